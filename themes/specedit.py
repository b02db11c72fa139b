"""specedit's own themes, registered through Textual's Theme API.

The speculation layers get theme variables (``$spec-lookup``, ``$spec-draft``, ``$spec-target``,
``$spec-rejected``, plus diff colours) so CSS and live-diff spans follow the theme, including when the
user switches to one of Textual's builtin themes (``SPEC_VARIABLE_DEFAULTS`` then fills in).
"""

from __future__ import annotations

from textual.theme import Theme

DARK = "specedit-dark"
LIGHT = "specedit-light"

SPEC_VARIABLE_DEFAULTS: dict[str, str] = {
    "spec-lookup": "#5fb3b3",
    "spec-draft": "#c594c5",
    "spec-target": "#fac863",
    "spec-rejected": "#ec5f67",
    "diff-added": "#99c794",
    "diff-removed": "#ec5f67",
    "diff-selected": "#343d46",
}

SPECEDIT_DARK = Theme(
    name=DARK,
    primary="#6699cc",
    secondary="#5fb3b3",
    accent="#fac863",
    warning="#f99157",
    error="#ec5f67",
    success="#99c794",
    foreground="#d8dee9",
    background="#1b2b34",
    surface="#22333d",
    panel="#2a3f4b",
    dark=True,
    variables=dict(SPEC_VARIABLE_DEFAULTS),
)

SPECEDIT_LIGHT = Theme(
    name=LIGHT,
    primary="#2b6cb0",
    secondary="#0f7b7b",
    accent="#b7791f",
    warning="#c05621",
    error="#c53030",
    success="#2f855a",
    foreground="#1a202c",
    background="#fbfbf8",
    surface="#f0f0ea",
    panel="#e2e4dc",
    dark=False,
    variables={
        "spec-lookup": "#0f7b7b",
        "spec-draft": "#805ad5",
        "spec-target": "#b7791f",
        "spec-rejected": "#c53030",
        "diff-added": "#2f855a",
        "diff-removed": "#c53030",
        "diff-selected": "#e6ecf5",
    },
)

THEMES: tuple[Theme, ...] = (SPECEDIT_DARK, SPECEDIT_LIGHT)

# The one table of layer styles (live diff, status bar, legend): each is a theme variable above.
LAYER_STYLE: dict[str, str] = {
    "lookup": "$spec-lookup",
    "draft": "$spec-draft",
    "target": "$spec-target",
}
REJECTED_STYLE = "$spec-rejected dim strike"
