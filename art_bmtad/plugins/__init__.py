"""Built-in plugins, loaded through entry points in the ``art_bmtad`` group like third-party ones.

Each module imports its heavy dependencies inside its factories where it can, so that loading the
plugins stays cheap.
"""
