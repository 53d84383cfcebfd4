"""The participant CSV format, as a django-import-export resource.

`ParticipantResource` is the one definition of the columns: the admin's import and
export use it as a resource, and the contract's Participants pages take their
headers, header aliases and column order from it (`COLUMNS`). The pages' own import
path (invitations.imports) validates and writes set-based, which the resource's
row-by-row import cannot do at the sizes we need; the admin's import goes through
the participant services row by row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tablib
from import_export import fields, resources, widgets
from import_export.formats import base_formats

from contracts import services as contract_services
from contracts.models import Contract, Participant
from core.csvio import clean_cell, iter_csv


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # Participant field, or a pseudo-field: price_code, invitation_code, code_status
    aliases: tuple[str, ...] = ()
    required: bool = False
    importable: bool = True  # export-only columns are accepted on upload and ignored

    @property
    def keys(self) -> set[str]:
        return {header_key(self.header), *(header_key(a) for a in self.aliases)}


COLUMNS: tuple[Column, ...] = (
    Column("ID", "id", ("participant id",)),
    Column("First Name", "first_name", ("given name", "forename"), required=True),
    Column("Last Name", "last_name", ("surname", "family name"), required=True),
    Column("Email", "email", ("email address", "e-mail", "mail"), required=True),
    Column("Phone", "phone", ("phone number", "mobile", "telephone")),
    Column("Date of Birth", "date_of_birth", ("dob", "birth date", "birthdate", "birthday")),
    Column(
        "External Reference",
        "external_reference",
        ("reference", "ref", "employee number", "member number", "employee id"),
    ),
    Column("Group", "group", ("department",)),
    Column("Region", "region"),
    Column("Notes", "notes", ("note",)),
    Column("Price Code", "price_code"),
    Column("Invitation Code", "invitation_code", ("code",), importable=False),
    Column("Code Status", "code_status", ("status",), importable=False),
)
HEADERS = [c.header for c in COLUMNS]
BY_FIELD = {c.field: c for c in COLUMNS}


def header_key(text: str) -> str:
    """Headers match whatever their case, spacing and punctuation: 'first_name' = 'First Name'."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


KEY_TO_COLUMN = {key: column for column in COLUMNS for key in column.keys}


class ParticipantResource(resources.ModelResource):
    """Participants of one contract (admin: chosen on the import form) in our CSV format."""

    id = fields.Field(attribute="id", column_name="ID", widget=widgets.IntegerWidget())
    first_name = fields.Field(attribute="first_name", column_name="First Name")
    last_name = fields.Field(attribute="last_name", column_name="Last Name")
    email = fields.Field(attribute="email", column_name="Email")
    phone = fields.Field(attribute="phone", column_name="Phone")
    date_of_birth = fields.Field(
        attribute="date_of_birth",
        column_name="Date of Birth",
        widget=widgets.DateWidget(format="%Y-%m-%d"),
    )
    external_reference = fields.Field(
        attribute="external_reference", column_name="External Reference"
    )
    group = fields.Field(attribute="group", column_name="Group")
    region = fields.Field(attribute="region", column_name="Region")
    notes = fields.Field(attribute="notes", column_name="Notes")
    price_code = fields.Field(column_name="Price Code", readonly=True)
    invitation_code = fields.Field(column_name="Invitation Code", readonly=True)
    code_status = fields.Field(column_name="Code Status", readonly=True)

    class Meta:
        model = Participant
        fields = [c.field for c in COLUMNS]
        export_order = fields
        import_id_fields = ["id"]
        skip_unchanged = True
        report_skipped = False

    def __init__(self, contract: Contract | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.contract = contract

    def get_queryset(self):
        from invitations import selectors

        qs = Participant.objects.all()
        if self.contract is not None:
            qs = qs.filter(contract=self.contract)
        return selectors.with_current_code(qs)

    def filter_export(self, queryset, **kwargs):
        from invitations import selectors

        return selectors.with_current_code(queryset)

    def dehydrate_price_code(self, participant: Participant) -> str:
        return getattr(participant, "x_price_code", None) or ""

    def dehydrate_invitation_code(self, participant: Participant) -> str:
        return getattr(participant, "x_code", None) or ""

    def dehydrate_code_status(self, participant: Participant) -> str:
        return getattr(participant, "x_code_state", None) or ""

    def before_import(self, dataset, **kwargs) -> None:
        if self.contract is None:
            raise ValueError("Choose the contract to import participants into.")
        self.actor = kwargs.get("user")

    def get_instance(self, instance_loader, row):
        # An ID only ever names a participant of the chosen contract.
        instance = super().get_instance(instance_loader, row)
        if instance is not None and instance.contract_id != self.contract.pk:
            raise ValueError(f"No participant of {self.contract.name} has the ID {instance.pk}.")
        return instance

    def init_instance(self, row=None):
        return Participant(contract=self.contract)

    def do_instance_save(self, instance: Participant, is_create: bool) -> None:
        """Through the participant services, like every other write."""
        data = {f: getattr(instance, f) for f in contract_services.PARTICIPANT_FIELDS}
        actor = getattr(self, "actor", None)
        if is_create:
            saved = contract_services.participant_create(
                actor=actor, contract=self.contract, **data
            )
            instance.pk = saved.pk
        else:
            contract_services.participant_update(actor=actor, participant=instance, **data)


class SpreadsheetCSV(base_formats.CSV):
    """django-import-export's CSV format, written and read the way core.csvio does it.

    Export: a BOM, and every cell a spreadsheet would evaluate defused (the library's own
    escaping strips only a leading "="). Import: our formula guard is undone and cells
    trimmed, so a file exported here comes back as it was.
    """

    def export_data(self, dataset: tablib.Dataset, **kwargs) -> str:
        return "".join(iter_csv(dataset.headers or [], dataset))

    def create_dataset(self, in_stream, **kwargs) -> tablib.Dataset:
        raw = super().create_dataset(in_stream, **kwargs)
        cleaned = tablib.Dataset(headers=[clean_cell(h.lstrip("\ufeff")) for h in raw.headers])
        for row in raw:
            cleaned.append([clean_cell(cell) if isinstance(cell, str) else cell for cell in row])
        return cleaned
