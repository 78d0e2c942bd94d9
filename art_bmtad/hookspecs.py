"""Hook specifications of art-bmtad (pluggy project name ``art_bmtad``)."""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("art_bmtad")
hookimpl = pluggy.HookimplMarker("art_bmtad")
