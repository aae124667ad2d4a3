"""The parts of the plan page, one row each: the sections, and the forms inside them.

Each part is a partial of contracts/plan.html (`{% partialdef <name> %}`), so that
htmx can ask for it alone. A part with a form is opened on the whole page with
`?edit=<edit>`, or alone by an htmx GET on its URL; saving it answers with its
section. Adding a part is a row here and a partial in plan.html; the views name
parts by these constants, never by strings (tests/test_plan_page.py checks that
every row has its partial, and that the template names no part this table lacks).
"""

from dataclasses import dataclass

from .forms import (
    CommitmentEditForm,
    CommitmentForm,
    ContactPathsForm,
    NextStepForm,
    OutcomeForm,
    VersionForm,
    WarningSignsForm,
    WhatMattersForm,
)


@dataclass(frozen=True)
class Section:
    """One part of the plan page.

    `name` is its partial in plan.html, and what the template calls it (`forms.<name>`,
    `saved`, `conflict`); `anchor` is its element's id, the target of its htmx
    requests and where a plain request lands. `edit` is the `?edit=` value that opens
    its form (and how its fields' ids begin); `within` the section it sits in, whose
    partial answers a save."""

    name: str
    anchor: str = ""
    edit: str = ""
    form: type[VersionForm] | None = None
    within: str = ""
    # Focused when the form is opened on its own: the link that opened it is gone.
    first_field: str = ""
    staff_only: bool = False
    needs_next_step: bool = False

    @property
    def section(self) -> "Section":
        return SECTIONS[self.within] if self.within else self

    def may_open(self, viewer) -> bool:
        return bool(viewer.can_write and (viewer.kind == "staff" or not self.staff_only))

    def offered(self, page) -> bool:
        """Whether the page's viewer may open this part's form on this plan now."""
        return (
            self.form is not None
            and page.contract is not None
            and self.may_open(page.viewer)
            and (page.next_step is not None or not self.needs_next_step)
        )


CHANGES = Section("changes", "changes")
WHAT_MATTERS = Section("what_matters", "what-matters", "what-matters", WhatMattersForm)
NEXT_STEP = Section("next_step", "next-step")
# The staff forms carry a picker of the whole team (hundreds of options in a large
# unit): the page links to them, and they come when asked for.
NEXT_STEP_FORM = Section(
    "next_step_form",
    "next-step-form",
    "next-step",
    NextStepForm,
    within="next_step",
    first_field="scheduled_at",
    staff_only=True,
)
OUTCOME_FORM = Section(
    "outcome_form",
    "outcome-form",
    "outcome",
    OutcomeForm,
    within="next_step",
    first_field="outcome",
    staff_only=True,
    needs_next_step=True,
)
COMMITMENTS = Section("commitments", "commitments")
NEW_COMMITMENT_FORM = Section(
    "new_commitment_form",
    "new-commitment-form",
    "new-commitment",
    CommitmentForm,
    within="commitments",
    first_field="what",
    staff_only=True,
)
# One commitment's row; its anchor and `?edit=` value are the row's (`commitment-<id>`).
COMMITMENT = Section(
    "commitment", form=CommitmentEditForm, within="commitments", first_field="what", staff_only=True
)
CARE_CONTACT = Section("care_contact", "care-contact")
WARNING_SIGNS = Section("warning_signs", "warning-signs", "warning-signs", WarningSignsForm)
CONTACT_PATHS = Section(
    "contact_paths", "contact-paths", "contact-paths", ContactPathsForm, staff_only=True
)
HISTORY = Section("history", "history")

SECTIONS = {
    part.name: part
    for part in (
        CHANGES,
        WHAT_MATTERS,
        NEXT_STEP,
        NEXT_STEP_FORM,
        OUTCOME_FORM,
        COMMITMENTS,
        NEW_COMMITMENT_FORM,
        COMMITMENT,
        CARE_CONTACT,
        WARNING_SIGNS,
        CONTACT_PATHS,
        HISTORY,
    )
}
BY_EDIT = {part.edit: part for part in SECTIONS.values() if part.edit}
COMMITMENT_EDIT = "commitment-"  # `?edit=commitment-<id>` opens that commitment's form


def make_form(part: Section, page, data=None, commitment=None, form_class=None):
    """The form for one part (or `form_class`, posted to it), with its choices and the
    version the page shows."""
    prefix = commitment.anchor if commitment is not None else part.edit
    form = (form_class or part.form).for_page(
        page, data, commitment=commitment, auto_id=f"{prefix}-%s" if prefix else "id_%s"
    )
    if part.first_field:
        form.fields[part.first_field].widget.attrs["autofocus"] = True
    return form
