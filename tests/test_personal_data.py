"""The one declaration of personal data (hotline/personal.py) covers every column, and erasure, retention
and masking all read it."""

from __future__ import annotations

from hotline import personal, retention
from hotline.db.models import Base, Case, CitizenRequest
from hotline.personal import Kind
from hotline.settings import Retention


def test_every_column_of_every_table_is_declared_personal_or_named_not_personal() -> None:
    declared = {t.model.__tablename__: set(t.fields) for t in personal.TABLES}
    for table in Base.metadata.sorted_tables:
        if table.name in personal.STAFF_TABLES:
            assert table.name not in declared, table.name
            continue
        columns = {c.name for c in table.columns}
        mine, others = declared.get(table.name, set()), personal.NOT_PERSONAL.get(table.name, frozenset())
        assert not mine & others, (table.name, mine & others)
        assert columns == mine | others, (table.name, columns ^ (mine | others))


def test_retention_has_a_rule_for_every_declared_table_and_reads_its_setting() -> None:
    assert set(retention.DELETION_ORDER) == {t.model for t in personal.TABLES}
    kept = set(Retention.model_fields)
    assert all(t.kept in kept for t in personal.TABLES)


def test_masking_hides_every_declared_contact_and_keeps_the_matter() -> None:
    row = {
        "contact_phone": "0912345678",
        "contact_email": "thu.nguyen@example.vn",
        "contact_chat": "zalo:8112233445566778899",
        "created_by": "citizen:0912345678",
        "address": "12 Lê Lợi",
        "words": "Đèn đường hỏng",
    }
    shown = personal.masked(CitizenRequest, row)
    assert shown == row | {
        "contact_phone": "0912***678",
        "contact_email": "t***@example.vn",
        "contact_chat": "zalo:***",
        "created_by": "citizen:0912***678",
    }
    assert personal.masked(Case, {"caller": "+84912345678", "topic": "health"}) == {
        "caller": "+849***678",
        "topic": "health",
    }
    # Every contact kind has a mask.
    assert set(personal.MASKS) >= personal.CONTACTS
    assert Kind.ACTOR in personal.MASKS
