import streamlit as st

st.title("handover")
st.info("Coming soon.")
