"""The sign-in gate: who may see the pages, decided once for every page before it runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import streamlit as st
from pydantic import ValidationError
from streamlit.errors import StreamlitAuthError
from streamlit.navigation.page import StreamlitPage

from cmoc_core.authconfig import (
    Access,
    AuthConfig,
    AuthConfigError,
    access,
    check_auth,
    login_failure,
    read_auth_section,
)
from cmoc_core.config import SECRETS_PATH, ConfigError
from cmoc_core.ui import deps
from cmoc_core.ui.widgets import escape_markdown

CLOSED = (
    "Real services are configured and nobody signs in, so this app serves nothing while other "
    "machines can reach it: set up [auth] in .streamlit/secrets.toml to have people sign in, or "
    "serve it on 127.0.0.1 only (make run does, unless ADDRESS says otherwise)."
)
ABOUT = (
    "The cockpit of GitLab's Incident Communications Manager On Call: status page updates, "
    "maintenance, handovers, practice events, KPIs and incident history. Sign in with your "
    "team's account to use it."
)


def gate(pages: Sequence[StreamlitPage]) -> StreamlitPage:
    """The page to run for this person; otherwise the sign-in page or one line, and a stop."""
    section: Any = None
    try:
        section = _auth_section()
        auth = check_auth(section, _secrets_file()) if section is not None else None
    except AuthConfigError as exc:
        st.navigation(pages, position="hidden")
        _stop(str(exc))
    mode = _access(auth)
    signed_out = mode is Access.SIGN_IN and not st.user.get("is_logged_in")
    admitted = mode is not Access.CLOSED and not signed_out
    page = st.navigation(pages, position="sidebar" if admitted else "hidden")
    if mode is Access.CLOSED:
        _stop(CLOSED)
    if auth is not None and signed_out:
        _sign_in_page(auth, section)
        st.stop()
    if mode is Access.SIGN_IN:
        _who_signed_in()
    return page


def _auth_section() -> Any | None:
    """The `[auth]` section Streamlit loaded, or None; AuthConfigError when the file is broken."""
    try:
        if "auth" not in st.secrets:
            return None
        section = st.secrets["auth"]
    except FileNotFoundError:
        # Streamlit loaded no secrets: there are none, or a file it could not parse, which is
        # read here again to say what to fix (later files win, as in Streamlit).
        found = None
        for name in st.get_option("secrets.files"):
            if name.endswith(".toml"):
                found = read_auth_section(Path(name)) or found
        return found
    to_dict = getattr(section, "to_dict", None)
    return to_dict() if callable(to_dict) else section


def _secrets_file() -> str:
    """The secrets file that Streamlit reads last (its values win), as people would name it."""
    names = [Path(name) for name in st.get_option("secrets.files") if name.endswith(".toml")]
    found = [path for path in names if path.is_file()] or names or [SECRETS_PATH]
    path = found[-1]
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _access(auth: AuthConfig | None) -> Access | None:
    """Who may use the app; None when the settings cannot say (the page then says what to fix)."""
    if auth is not None:
        return Access.SIGN_IN
    try:
        demo = deps.current_settings().demo_mode
    except (ConfigError, ValidationError):
        # Every page stops on the configuration error before it shows any data.
        return None
    return access(auth=False, demo=demo, address=st.get_option("server.address"))


def _sign_in_page(auth: AuthConfig, section: Any) -> None:
    st.title("CMOC Cockpit")
    st.write(ABOUT)
    for provider in auth.logins:
        label = f"Sign in with {provider}" if provider else "Sign in"
        key = f"signin_login_{provider or 'default'}"
        if st.button(label, key=key, type="primary", icon=":material/login:"):
            try:
                if provider:
                    st.login(provider)
                else:
                    st.login()
            except StreamlitAuthError as exc:
                st.error(escape_markdown(login_failure(str(exc), section)))


def _who_signed_in() -> None:
    """Who is signed in, their roles in words, and a way to sign out, in the sidebar."""
    viewer = deps.viewer(deps.loaded_context())
    roles = ", ".join(sorted(role.value for role in viewer.roles)) or "reader"
    with st.sidebar:
        st.markdown(f"**{escape_markdown(viewer.name)}**")
        if viewer.email and viewer.email.lower() != viewer.name.lower():
            st.caption(escape_markdown(viewer.email))
        st.caption(f"{'Roles' if len(viewer.roles) > 1 else 'Role'}: {escape_markdown(roles)}")
        if st.button("Sign out", key="signin_logout", icon=":material/logout:"):
            st.logout()


def _stop(message: str) -> NoReturn:
    st.error(escape_markdown(message))
    st.stop()
