import streamlit as st

st.title("maintenance")
st.info("Coming soon.")
