"""Streamlit glue: session state, the sidebar, cached engine calls and optional login.

What enters: widget values from the pages in ``app_pages/``. What leaves: engine results for
the page to draw. Caches key on content (dataset fingerprint, hash of the profile text), never
on a name, and nothing mutable is shared between browser sessions. Only the app and the CLI
import this package.
"""
