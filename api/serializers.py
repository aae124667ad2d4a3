"""What the integrator API reads and writes, as JSON.

Read serializers only shape rows that the views loaded with their prefetches (no
query of their own). Write serializers are strict: a wrong type or an unknown field
is a 400, never silently coerced or ignored, because a typo in an integration must
not change a patient's plan in a way nobody meant.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contracts.models import Channel, Commitment, ContactPath, Contract, NextStep, OwnerKind
from naravard.integrator import contract_etag
from patients.models import Consent

MAX_ID = 2**63 - 1


# --- strict input ----------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class IdField(serializers.IntegerField):
    """A row id: a JSON integer, not a string or a float."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class DateField(serializers.DateField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(data)


class DateTimeField(serializers.DateTimeField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", format="YYYY-MM-DDThh:mm+01:00")
        return super().to_internal_value(data)


class WhatMattersWrite(StrictSerializer):
    what_matters = StrictCharField(max_length=5000, allow_blank=True, trim_whitespace=False)
    goals = serializers.ListField(
        child=StrictCharField(max_length=500), max_length=50, required=False
    )


class OwnerFields(StrictSerializer):
    owner_kind = serializers.ChoiceField(choices=OwnerKind.choices)
    owner_organisation = IdField(required=False, allow_null=True)
    owner_staff = IdField(required=False, allow_null=True)
    owner_relative = IdField(required=False, allow_null=True)


class CommitmentCreate(OwnerFields):
    what = StrictCharField(max_length=1000)
    due_date = DateField(required=False, allow_null=True)


class CommitmentUpdate(OwnerFields):
    """Every field optional: send only what changes. `status` ticks off, reopens or cancels."""

    owner_kind = serializers.ChoiceField(choices=OwnerKind.choices, required=False)
    what = StrictCharField(max_length=1000, required=False)
    due_date = DateField(required=False)
    status = serializers.ChoiceField(choices=Commitment.Status.choices, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(_("Send at least one field to change."))
        owners = {"owner_organisation", "owner_staff", "owner_relative"} & set(attrs)
        if owners and "owner_kind" not in attrs:
            raise serializers.ValidationError(
                {"owner_kind": [_("Say who does it (owner_kind) when you change the owner.")]}
            )
        return attrs


class NextStepCreate(StrictSerializer):
    scheduled_at = DateTimeField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    purpose = StrictCharField(max_length=1000)
    location = StrictCharField(max_length=200, required=False, allow_blank=True)
    with_whom = StrictCharField(max_length=200, required=False, allow_blank=True)
    organisation = IdField(required=False, allow_null=True)
    staff = IdField(required=False, allow_null=True)


class NextStepOutcome(StrictSerializer):
    outcome = StrictCharField(max_length=2000)
    happened = StrictBooleanField(required=False, default=True)


class CareContactAssign(StrictSerializer):
    staff = IdField()
    organisation = IdField()
    how_to_reach = StrictCharField(max_length=300, required=False, allow_blank=True)
    started_on = DateField(required=False, allow_null=True)


class ListParams(serializers.Serializer):
    """Query parameters of the list endpoints (unknown ones are ignored, as is usual)."""

    updated_since = serializers.DateTimeField(
        required=False,
        help_text=(
            "Only rows changed at or after this time (ISO 8601 with time zone). A write that "
            "commits late can carry an earlier time: to sync without gaps, follow "
            "/api/v1/changes/ instead."
        ),
    )
    cursor = serializers.CharField(required=False, help_text="`next_cursor` of the last page.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class ContractListParams(ListParams):
    patient = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(choices=Contract.Status.choices, required=False)


class ChangesParams(serializers.Serializer):
    since = serializers.CharField(
        required=False, help_text="`next_cursor` of the last answer; leave out to start."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


# --- output -----------------------------------------------------------------------------


class OrganisationRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    hsa_id = serializers.CharField(allow_null=True)


class StaffRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")


class RelativeRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    relation = serializers.CharField()


class PatientOut(serializers.Serializer):
    id = serializers.IntegerField()
    identity_number = serializers.CharField()
    identity_kind = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)
    phone = serializers.CharField()
    email = serializers.CharField()
    address = serializers.CharField()
    preferred_language = serializers.CharField()
    needs_interpreter = serializers.BooleanField()
    easy_read = serializers.BooleanField()
    support_profile = serializers.CharField()
    preferred_channel = serializers.CharField()
    updated_at = serializers.DateTimeField()


class GoalOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    position = serializers.IntegerField()
    achieved_at = serializers.DateTimeField(allow_null=True)


class NextStepOut(serializers.Serializer):
    id = serializers.IntegerField()
    contract = serializers.IntegerField(source="contract_id")
    scheduled_at = serializers.DateTimeField()
    channel = serializers.CharField()
    location = serializers.CharField()
    organisation = OrganisationRef(allow_null=True)
    staff = StaffRef(allow_null=True)
    with_whom = serializers.CharField()
    purpose = serializers.CharField()
    status = serializers.ChoiceField(choices=NextStep.Status.choices)
    outcome = serializers.CharField()
    outcome_recorded_at = serializers.DateTimeField(allow_null=True)
    follows = serializers.IntegerField(source="follows_id", allow_null=True)


class CommitmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    contract = serializers.IntegerField(source="contract_id")
    what = serializers.CharField()
    owner_kind = serializers.ChoiceField(choices=OwnerKind.choices)
    owner_organisation = OrganisationRef(allow_null=True)
    owner_staff = StaffRef(allow_null=True)
    owner_relative = RelativeRef(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=Commitment.Status.choices)
    completed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


# The plan's commitments are most of a contract (10–100 per plan), so ContractOut builds
# them as plain dicts rather than through CommitmentOut, which still documents them. The API
# views go further and build the whole plan from plain rows (contract_out, below);
# tests/test_api_reads.py checks that all of these give the same JSON.
_DATE = serializers.DateField()
_DATETIME = serializers.DateTimeField()


def _text(value):
    return None if value is None else str(value)


def _when(field, value):
    return None if value is None else field.to_representation(value)


def _organisation_ref(org):
    if org is None:
        return None
    return {"id": org.id, "name": str(org.name), "kind": str(org.kind), "hsa_id": _text(org.hsa_id)}


def _staff_ref(user):
    return None if user is None else {"id": user.id, "name": str(user.get_full_name())}


def _relative_ref(relative):
    if relative is None:
        return None
    return {"id": relative.id, "name": str(relative.name), "relation": str(relative.relation)}


def commitment_out(c) -> dict:
    """One commitment as CommitmentOut shows it, from a row with its owners selected."""
    return {
        "id": c.id,
        "contract": c.contract_id,
        "what": str(c.what),
        "owner_kind": str(c.owner_kind),
        "owner_organisation": _organisation_ref(c.owner_organisation),
        "owner_staff": _staff_ref(c.owner_staff),
        "owner_relative": _relative_ref(c.owner_relative),
        "due_date": _when(_DATE, c.due_date),
        "status": str(c.status),
        "completed_at": _when(_DATETIME, c.completed_at),
        "created_at": _when(_DATETIME, c.created_at),
    }


class CareContactOut(serializers.Serializer):
    id = serializers.IntegerField()
    staff = StaffRef()
    organisation = OrganisationRef()
    started_on = serializers.DateField()
    ended_on = serializers.DateField(allow_null=True)
    how_to_reach = serializers.CharField()


class WarningSignOut(serializers.Serializer):
    id = serializers.IntegerField()
    sign = serializers.CharField()
    action = serializers.CharField()


class ContactPathOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ContactPath.Kind.choices)
    label = serializers.CharField()
    value = serializers.CharField()
    hours = serializers.CharField()
    organisation = serializers.IntegerField(source="organisation_id", allow_null=True)


class ContractOut(serializers.Serializer):
    """The whole plan: the four parts of the patient contract and what goes with them."""

    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    status = serializers.ChoiceField(choices=Contract.Status.choices)
    version = serializers.IntegerField()
    etag = serializers.SerializerMethodField()
    what_matters = serializers.CharField()
    goals = GoalOut(many=True, source="goals.all")
    next_step = serializers.SerializerMethodField()
    next_steps = NextStepOut(many=True, source="next_steps.all")
    commitments = serializers.SerializerMethodField()
    fixed_care_contact = serializers.SerializerMethodField()
    warning_signs = WarningSignOut(many=True, source="warning_signs.all")
    contact_paths = ContactPathOut(many=True, source="contact_paths.all")
    agreed_version = serializers.IntegerField(allow_null=True)
    agreed_at = serializers.DateTimeField(allow_null=True)
    changed_since_agreed = serializers.BooleanField()
    review_due = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_etag(self, contract) -> str:
        return contract_etag(contract)

    @extend_schema_field(CommitmentOut(many=True))
    def get_commitments(self, contract):
        return [commitment_out(c) for c in contract.commitments.all()]

    @extend_schema_field(NextStepOut(allow_null=True))
    def get_next_step(self, contract):
        # From the prefetched steps: the one still planned, if any.
        planned = [s for s in contract.next_steps.all() if s.status == NextStep.Status.PLANNED]
        return NextStepOut(planned[0]).data if planned else None

    @extend_schema_field(CareContactOut(allow_null=True))
    def get_fixed_care_contact(self, contract):
        current = [c for c in contract.care_contacts.all() if c.ended_on is None]
        return CareContactOut(current[0]).data if current else None


class CareTeamMemberOut(serializers.Serializer):
    id = serializers.IntegerField()
    organisation = OrganisationRef()
    staff = StaffRef(allow_null=True)
    responsibility = serializers.CharField()
    active = serializers.BooleanField()
    joined_at = serializers.DateTimeField()
    consent = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=Consent.Status.choices, allow_null=True))
    def get_consent(self, member):
        # The view passes {organisation id: consent status} in the context.
        return self.context["consents"].get(member.organisation_id)


class EventOut(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    contract = serializers.IntegerField(source="contract_id", allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    actor_kind = serializers.CharField()
    organisation = serializers.IntegerField(source="organisation_id", allow_null=True)
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class ProblemOut(serializers.Serializer):
    """An error, as RFC 9457 problem details (application/problem+json)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field.",
    )
    current_version = serializers.IntegerField(required=False, help_text="With 412.")
    etag = serializers.CharField(required=False, help_text="With 412: the current ETag.")


# --- pages ---------------------------------------------------------------------------


def page_of(item_serializer):
    """The response schema of a keyset page of `item_serializer`."""

    class Page(serializers.Serializer):
        results = item_serializer(many=True)
        next = serializers.URLField(allow_null=True, help_text="The next page, if there is one.")
        next_cursor = serializers.CharField(
            allow_null=True, help_text="Keep it and ask again later to get only what is new."
        )
        has_more = serializers.BooleanField()

    Page.__name__ = f"{item_serializer.__name__.removesuffix('Out')}Page"
    return Page


class ChangesOut(serializers.Serializer):
    events = EventOut(many=True)
    contracts = serializers.ListField(child=serializers.IntegerField())
    patients = serializers.ListField(child=serializers.IntegerField())
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


# --- the whole plan from plain rows ---------------------------------------------------------

# Profiling an API contract read showed most of it in building model instances for the
# prefetched parts (with their joined owners) and in ContractOut's per-field machinery.
# The contract reads instead fetch each part as plain rows (`values()` with these columns)
# and shape them here. ContractOut still documents the shape; tests/test_api_reads.py
# checks that both give the same JSON.


def _ref_columns(prefix: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{prefix}__{name}" for name in names)


def _org_columns(prefix):
    return _ref_columns(prefix, ("id", "name", "kind", "hsa_id"))


def _staff_columns(prefix):
    return _ref_columns(prefix, ("id", "first_name", "last_name"))


PART_COLUMNS = {
    "goals": ("contract_id", "id", "text", "position", "achieved_at"),
    "next_steps": (
        *("contract_id", "id", "scheduled_at", "channel", "location", "with_whom", "purpose"),
        *("status", "outcome", "outcome_recorded_at", "follows_id"),
        *_org_columns("organisation"),
        *_staff_columns("staff"),
    ),
    "commitments": (
        *("contract_id", "id", "what", "owner_kind", "due_date", "status", "completed_at"),
        "created_at",
        *_org_columns("owner_organisation"),
        *_staff_columns("owner_staff"),
        *_ref_columns("owner_relative", ("id", "name", "relation")),
    ),
    "care_contacts": (
        *("contract_id", "id", "started_on", "ended_on", "how_to_reach"),
        *_org_columns("organisation"),
        *_staff_columns("staff"),
    ),
    "warning_signs": ("contract_id", "id", "sign", "action"),
    "contact_paths": (
        *("contract_id", "id", "kind", "label", "value", "hours", "organisation_id"),
    ),
}


def _org_row(row, prefix):
    if row[f"{prefix}__id"] is None:
        return None
    return {
        "id": row[f"{prefix}__id"],
        "name": str(row[f"{prefix}__name"]),
        "kind": str(row[f"{prefix}__kind"]),
        "hsa_id": _text(row[f"{prefix}__hsa_id"]),
    }


def _staff_row(row, prefix):
    if row[f"{prefix}__id"] is None:
        return None
    # As User.get_full_name() gives it.
    name = f"{row[f'{prefix}__first_name']} {row[f'{prefix}__last_name']}".strip()
    return {"id": row[f"{prefix}__id"], "name": name}


def _relative_row(row, prefix):
    if row[f"{prefix}__id"] is None:
        return None
    return {
        "id": row[f"{prefix}__id"],
        "name": str(row[f"{prefix}__name"]),
        "relation": str(row[f"{prefix}__relation"]),
    }


def _goal_row(row) -> dict:
    return {
        "id": row["id"],
        "text": str(row["text"]),
        "position": row["position"],
        "achieved_at": _when(_DATETIME, row["achieved_at"]),
    }


def _next_step_row(row) -> dict:
    return {
        "id": row["id"],
        "contract": row["contract_id"],
        "scheduled_at": _when(_DATETIME, row["scheduled_at"]),
        "channel": str(row["channel"]),
        "location": str(row["location"]),
        "organisation": _org_row(row, "organisation"),
        "staff": _staff_row(row, "staff"),
        "with_whom": str(row["with_whom"]),
        "purpose": str(row["purpose"]),
        "status": str(row["status"]),
        "outcome": str(row["outcome"]),
        "outcome_recorded_at": _when(_DATETIME, row["outcome_recorded_at"]),
        "follows": row["follows_id"],
    }


def _commitment_row(row) -> dict:
    return {
        "id": row["id"],
        "contract": row["contract_id"],
        "what": str(row["what"]),
        "owner_kind": str(row["owner_kind"]),
        "owner_organisation": _org_row(row, "owner_organisation"),
        "owner_staff": _staff_row(row, "owner_staff"),
        "owner_relative": _relative_row(row, "owner_relative"),
        "due_date": _when(_DATE, row["due_date"]),
        "status": str(row["status"]),
        "completed_at": _when(_DATETIME, row["completed_at"]),
        "created_at": _when(_DATETIME, row["created_at"]),
    }


def _care_contact_row(row) -> dict:
    return {
        "id": row["id"],
        "staff": _staff_row(row, "staff"),
        "organisation": _org_row(row, "organisation"),
        "started_on": _when(_DATE, row["started_on"]),
        "ended_on": _when(_DATE, row["ended_on"]),
        "how_to_reach": str(row["how_to_reach"]),
    }


def _warning_sign_row(row) -> dict:
    return {"id": row["id"], "sign": str(row["sign"]), "action": str(row["action"])}


def _contact_path_row(row) -> dict:
    return {
        "id": row["id"],
        "kind": str(row["kind"]),
        "label": str(row["label"]),
        "value": str(row["value"]),
        "hours": str(row["hours"]),
        "organisation": row["organisation_id"],
    }


def contract_out(contract, parts: dict) -> dict:
    """The plan as ContractOut shows it: `contract` a model row, `parts` its rows per part
    (PART_COLUMNS), in the order the parts' models sort them."""
    steps = parts["next_steps"]
    planned = [row for row in steps if row["status"] == NextStep.Status.PLANNED]
    current = [row for row in parts["care_contacts"] if row["ended_on"] is None]
    return {
        "id": contract.id,
        "patient": contract.patient_id,
        "status": str(contract.status),
        "version": contract.version,
        "etag": contract_etag(contract),
        "what_matters": str(contract.what_matters),
        "goals": [_goal_row(row) for row in parts["goals"]],
        "next_step": _next_step_row(planned[0]) if planned else None,
        "next_steps": [_next_step_row(row) for row in steps],
        "commitments": [_commitment_row(row) for row in parts["commitments"]],
        "fixed_care_contact": _care_contact_row(current[0]) if current else None,
        "warning_signs": [_warning_sign_row(row) for row in parts["warning_signs"]],
        "contact_paths": [_contact_path_row(row) for row in parts["contact_paths"]],
        "agreed_version": contract.agreed_version,
        "agreed_at": _when(_DATETIME, contract.agreed_at),
        "changed_since_agreed": bool(contract.changed_since_agreed),
        "review_due": _when(_DATE, contract.review_due),
        "created_at": _when(_DATETIME, contract.created_at),
        "updated_at": _when(_DATETIME, contract.updated_at),
    }
