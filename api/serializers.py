"""What the integrator API reads and writes, as JSON.

Read serializers only shape rows that the views loaded with their prefetches (no
query of their own). Write serializers are strict: a wrong type or an unknown field
is a 400, never silently coerced or ignored, because a typo in an integration must
not change a patient's plan in a way nobody meant.
"""

from functools import partial
from operator import itemgetter

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contracts.models import Channel, Commitment, ContactPath, Contract, NextStep, OwnerKind
from naravard.integrator import contract_etag
from naravard.strict import MAX_ID, parse_id, text_validator
from patients.models import Consent

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
    """Text, without the control characters naravard.strict refuses (its `pattern`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(text_validator())

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
        return _in_range(super().to_internal_value, data, self)


def _in_range(parse, data, field):
    """A time near the ends of the calendar can fail to move into our time zone."""
    try:
        return parse(data)
    except OverflowError:
        field.fail("invalid", format="YYYY-MM-DDThh:mm+01:00")


class QueryDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, data):
        return _in_range(super().to_internal_value, data, self)


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query: ASCII digits only (not '²' or '١٢'), within bigint."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.isascii() or not data.isdigit():
            self.fail("invalid")
        if len(data) > 19:
            self.fail("max_value", max_value=self.max_value)
        return super().to_internal_value(data)


class QueryIdField(QueryIntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        super().to_internal_value(data)
        return parse_id(data, self.field_name)


class QueryCharField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(text_validator())


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
    due_date = DateField(required=False, allow_null=True)
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
    """Query parameters of the list endpoints. Any other is refused (400) unless the
    request says `Prefer: handling=lenient` (naravard.strict)."""

    updated_since = QueryDateTimeField(
        required=False,
        help_text=(
            "Only rows changed at or after this time (ISO 8601 with time zone). A write that "
            "commits late can carry an earlier time: to sync without gaps, follow "
            "/api/v1/changes/ instead."
        ),
    )
    cursor = QueryCharField(required=False, help_text="`next_cursor` of the last page.")
    page_size = QueryIntegerField(required=False, min_value=1, max_value=100, default=50)


class ContractListParams(ListParams):
    patient = QueryIdField(required=False)
    status = serializers.ChoiceField(choices=Contract.Status.choices, required=False)


class ChangesParams(serializers.Serializer):
    since = QueryCharField(
        required=False, help_text="`next_cursor` of the last answer; leave out to start."
    )
    limit = QueryIntegerField(required=False, min_value=1, max_value=500, default=100)


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
        return CommitmentOut(contract.commitments.all(), many=True).data

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
        self = serializers.URLField(
            help_text="This page: only the parameters that were applied (see Prefer)."
        )
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
# The contract lists and write answers instead fetch each part as plain rows (`values()`
# with PART_COLUMNS) and shape them with functions compiled from the parts' serializers,
# field by field as api.reads compiles their SQL: a plain field added to a serializer
# shows here without a change. tests/test_api_reads.py checks that both give the same JSON.
_DATE = serializers.DateField()
_DATETIME = serializers.DateTimeField()


def _text(value):
    return None if value is None else str(value)


def _when(field, value):
    return None if value is None else field.to_representation(value)


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


# A reference: the columns of the referenced row a plain row holds, and its JSON from them.
ROW_REFERENCES = {
    OrganisationRef: (("id", "name", "kind", "hsa_id"), _org_row),
    StaffRef: (("id", "first_name", "last_name"), _staff_row),
    RelativeRef: (("id", "name", "relation"), _relative_row),
}


def _value_of(field, column):
    """A function from a plain row to `field`'s JSON value of `column`."""
    if type(field) in ROW_REFERENCES:
        return partial(ROW_REFERENCES[type(field)][1], prefix=column)
    if isinstance(field, (serializers.DateTimeField, serializers.DateField)):
        writer = _DATETIME if isinstance(field, serializers.DateTimeField) else _DATE
        return lambda row: _when(writer, row[column])
    if isinstance(field, (serializers.CharField, serializers.ChoiceField)):
        as_text = _text if field.allow_null else str
        return lambda row: as_text(row[column])
    if isinstance(field, (serializers.IntegerField, serializers.BooleanField)):
        return itemgetter(column)
    raise ImproperlyConfigured(f"{field.parent.__class__.__name__}.{field.field_name}: no rule")


class RowShape:
    """A part's serializer as `values()` columns and a function from such a row to its JSON."""

    def __init__(self, serializer_class):
        self.columns = {"contract_id": None}  # each row says its plan
        self.values = []
        for name, field in serializer_class().fields.items():
            if type(field) in ROW_REFERENCES:
                names = ROW_REFERENCES[type(field)][0]
                self.columns.update(dict.fromkeys(f"{field.source}__{n}" for n in names))
            else:
                self.columns[field.source] = None
            self.values.append((name, _value_of(field, field.source)))
        self.columns = tuple(self.columns)

    def __call__(self, row) -> dict:
        return {name: value(row) for name, value in self.values}


PARTS = {
    "goals": RowShape(GoalOut),
    "next_steps": RowShape(NextStepOut),
    "commitments": RowShape(CommitmentOut),
    "care_contacts": RowShape(CareContactOut),
    "warning_signs": RowShape(WarningSignOut),
    "contact_paths": RowShape(ContactPathOut),
}
PART_COLUMNS = {name: shape.columns for name, shape in PARTS.items()}


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
        "goals": [PARTS["goals"](row) for row in parts["goals"]],
        "next_step": PARTS["next_steps"](planned[0]) if planned else None,
        "next_steps": [PARTS["next_steps"](row) for row in steps],
        "commitments": [PARTS["commitments"](row) for row in parts["commitments"]],
        "fixed_care_contact": PARTS["care_contacts"](current[0]) if current else None,
        "warning_signs": [PARTS["warning_signs"](row) for row in parts["warning_signs"]],
        "contact_paths": [PARTS["contact_paths"](row) for row in parts["contact_paths"]],
        "agreed_version": contract.agreed_version,
        "agreed_at": _when(_DATETIME, contract.agreed_at),
        "changed_since_agreed": bool(contract.changed_since_agreed),
        "review_due": _when(_DATE, contract.review_due),
        "created_at": _when(_DATETIME, contract.created_at),
        "updated_at": _when(_DATETIME, contract.updated_at),
    }
