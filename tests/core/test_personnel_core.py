"""Personnel records: validation, unique logins, optimistic locking, on every engine."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import (
    ConflictError,
    LastAdministratorError,
    PermissionDenied,
    ValidationError,
)
from pmdesk.core.models import AuditEvent, Person
from pmdesk.core.personnel import AlreadyInitialised, PersonForm, PersonnelService
from tests.helpers.databases import stage

CLI = Actor(name="tester (cli)")


def _admin_form(login: str = "alice") -> PersonForm:
    return PersonForm(
        last_name="Smets",
        first_name="JM",
        email="jm@insypro.com",
        group_id=1,
        login=login,
        password="correct horse",
        password_confirm="correct horse",
        hourly_cost="42,50",
    )


def test_create_stores_clean_values(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    record = service.create(CLI, _admin_form())
    assert record.form.hourly_cost == "42.50"
    assert record.group_name == "Administrator"
    assert record.has_password
    with stage(ctx.db) as s:
        person = s.get(Person, record.id)
        assert person is not None
        assert person.hourly_cost == Decimal("42.50")
        assert person.password_hash and "correct horse" not in person.password_hash
        events = s.execute(select(AuditEvent.event)).scalars().all()
    assert events == ["person.created"]


def test_login_is_unique_case_insensitively(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    service.create(CLI, _admin_form("alice"))
    with pytest.raises(ValidationError) as caught:
        service.create(CLI, _admin_form("ALICE"))
    assert caught.value.errors == {"login": "This login is already taken."}
    with stage(ctx.db) as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar_one() == 1


def test_invalid_fields_are_named_and_nothing_is_stored(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    bad = replace(
        _admin_form(),
        email="not-an-address",
        phone="call me",
        hourly_cost="-3",
        password="short",
        password_confirm="short",
        first_name="Bad\x00Name",
    )
    with pytest.raises(ValidationError) as caught:
        service.create(CLI, bad)
    assert set(caught.value.errors) == {"email", "phone", "hourly_cost", "password", "first_name"}
    with stage(ctx.db) as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar_one() == 0


def test_second_save_of_same_version_is_a_conflict_and_nothing_is_lost(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    created = service.create(CLI, _admin_form())
    # Two workstations open the same person.
    first_view = service.get(CLI, created.id)
    second_view = service.get(CLI, created.id)

    service.update(
        CLI, created.id, first_view.version, replace(first_view.form, phone="0470 12 34 56")
    )
    with pytest.raises(ConflictError) as caught:
        service.update(CLI, created.id, second_view.version, replace(second_view.form, city="Gent"))

    # The refusal carries what the other workstation saved, so the UI can show the difference.
    current = caught.value.current
    assert current is not None and current.form.phone == "+32470123456"  # type: ignore[attr-defined]
    stored = service.get(CLI, created.id)
    assert stored.form.phone == "+32470123456"
    assert stored.form.city == ""
    # Saving again against the version just seen succeeds and keeps both edits.
    merged = service.update(CLI, created.id, stored.version, replace(stored.form, city="Gent"))
    assert (merged.form.phone, merged.form.city) == ("+32470123456", "Gent")


def test_renaming_to_a_taken_login_is_told_at_the_field_and_nothing_changes(
    ctx: CoreContext,
) -> None:
    """The UPDATE goes out with the COMMIT (personnel: write_changes_later): the server's
    refusal still reaches the form as the field's message, and nothing of the save stays."""
    service = PersonnelService(ctx)
    service.create(CLI, _admin_form("alice"))
    bob = service.create(CLI, _admin_form("bob"))
    events_before = _count(ctx, AuditEvent)
    with pytest.raises(ValidationError) as caught:
        service.update(CLI, bob.id, bob.version, replace(bob.form, login="ALICE", city="Gent"))
    assert caught.value.errors == {"login": "This login is already taken."}
    stored = service.get(CLI, bob.id)
    assert (stored.form.login, stored.form.city, stored.version) == ("bob", "", bob.version)
    assert _count(ctx, AuditEvent) == events_before, "no log row for a save that did not happen"
    saved = service.update(CLI, bob.id, bob.version, replace(bob.form, city="Gent"))
    assert (saved.form.city, saved.version) == ("Gent", bob.version + 1)


def test_two_saves_of_the_same_version_at_once_one_wins(ctx: CoreContext) -> None:
    """Two workstations press Save on the same version at the same moment: the person's row
    is locked by the first, the second then finds the new version and is told, whatever the
    order; the stored row is exactly one of the two forms."""
    import threading

    service = PersonnelService(ctx)
    person = service.create(CLI, _admin_form())
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def save(city: str) -> None:
        start.wait()
        try:
            service.update(CLI, person.id, person.version, replace(person.form, city=city))
            outcomes[city] = "saved"
        except ConflictError:
            outcomes[city] = "conflict"

    threads = [threading.Thread(target=save, args=(city,)) for city in ("Gent", "Luik")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    stored = service.get(CLI, person.id)
    winner = next(city for city, outcome in outcomes.items() if outcome == "saved")
    assert (stored.form.city, stored.version) == (winner, person.version + 1)


def _count(ctx: CoreContext, model: type[object]) -> int:
    with stage(ctx.db) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _clerk(ctx: CoreContext, *, can_read_maintenance: bool) -> tuple[Actor, int, int]:
    """alice (administrator) and clerk in a "Reception" group: (clerk, clerk's id, group id)."""
    from pmdesk.core.models import GroupPermission, UserGroup
    from pmdesk.core.modules import MAINTENANCE

    service = PersonnelService(ctx)
    service.create(CLI, _admin_form())
    with stage(ctx.db) as s:
        group = UserGroup(name="Reception", name_key="reception")
        s.add(group)
        s.flush()
        group_id = group.id
        if can_read_maintenance:
            s.add(GroupPermission(group_id=group_id, module_key=MAINTENANCE.key, can_read=True))
    clerk = service.create(CLI, replace(_admin_form("clerk"), group_id=group_id))
    return Actor(name="clerk", person_id=clerk.id), clerk.id, group_id


def test_user_without_maintenance_rights_is_refused(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    clerk_actor, clerk_id, _ = _clerk(ctx, can_read_maintenance=False)
    with pytest.raises(PermissionDenied):
        service.page(clerk_actor)
    with pytest.raises(PermissionDenied):
        service.create(clerk_actor, _admin_form("mallory"))
    # Everyone may read their own record.
    assert service.get(clerk_actor, clerk_id).form.login == "clerk"


def test_the_list_checks_read_rights_at_every_page(ctx: CoreContext) -> None:
    """The list's pages check the right in the query itself: rows only with Read, a refusal
    (not an empty list) without it, and a right taken away applies to the next page."""
    from pmdesk.core.models import GroupPermission
    from pmdesk.core.modules import MAINTENANCE

    service = PersonnelService(ctx)
    clerk_actor, _, group_id = _clerk(ctx, can_read_maintenance=True)

    first = service.first_page(clerk_actor)
    assert [row.login for row in first.rows] == ["alice", "clerk"]
    assert first.total == 2
    assert [row.login for row in service.page(clerk_actor, offset=1)] == ["clerk"]
    assert service.page(clerk_actor, offset=5) == []  # past the end: empty, not refused

    with stage(ctx.db) as s:
        s.get(GroupPermission, (group_id, MAINTENANCE.key)).can_read = False  # type: ignore[union-attr]
    for read in (
        lambda: service.first_page(clerk_actor),
        lambda: service.first_page(clerk_actor, search="al"),
        lambda: service.page(clerk_actor),
        lambda: service.page(clerk_actor, offset=5),
        lambda: service.count(clerk_actor),
    ):
        with pytest.raises(PermissionDenied, match="may not see Maintenance"):
            read()


def test_last_administrator_cannot_be_removed(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    admin = service.create(CLI, _admin_form())
    with pytest.raises(LastAdministratorError, match="nobody able to administer"):
        service.delete(CLI, admin.id, admin.version)
    assert service.get(CLI, admin.id).form.login == "alice"
    actor = Actor(name="alice", person_id=admin.id)
    with pytest.raises(PermissionDenied, match="your own account"):
        service.delete(actor, admin.id, admin.version)


def test_search_is_case_insensitive_prefix_on_names_number_login_email(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    service.create(CLI, _admin_form())
    people = [
        ("Smets", "Jan", "E001", "jan.smets@example.com"),
        ("Smith", "Émile", "E002", "emile@example.com"),
        ("de Smet", "Anne", "X100", "anne@garage.be"),
        ("Peeters", "Sofie", "E003", "sofie%_x@example.com"),
    ]
    for last, first, number, email in people:
        service.create(
            CLI, PersonForm(last_name=last, first_name=first, number=number, email=email)
        )

    def found(term: str) -> list[str]:
        rows = service.page(CLI, search=term)
        assert service.count(CLI, term) == len(rows)
        return [r.last_name for r in rows]

    assert found("SM") == ["Smets", "Smets", "Smith"]  # Jan Smets, JM Smets (alice), Smith
    assert found("émile") == ["Smith"]
    assert found("de s") == ["de Smet"]
    assert found("x1") == ["de Smet"]
    assert found("jan smets") == ["Smets"]
    assert found("sofie%") == ["Peeters"]
    assert found("%") == []  # wildcards are literal text
    assert found("_") == []
    assert found("zzz") == []
    assert len(found("")) == 5


def test_sorting_is_case_insensitive(ctx: CoreContext) -> None:
    service = PersonnelService(ctx)
    for last in ("bakker", "Aerts", "Claes"):
        service.create(CLI, PersonForm(last_name=last))
    assert [r.last_name for r in service.page(CLI)] == ["Aerts", "bakker", "Claes"]
    assert [r.last_name for r in service.page(CLI, descending=True)] == [
        "Claes",
        "bakker",
        "Aerts",
    ]


def test_first_administrator_is_created_once_even_from_two_workstations(ctx: CoreContext) -> None:
    import threading

    service = PersonnelService(ctx)
    results: list[str] = []
    start = threading.Barrier(2)

    def first_run(login: str) -> None:
        start.wait()
        try:
            service.create_first_administrator(CLI, _admin_form(login))
            results.append("created")
        except AlreadyInitialised:
            results.append("refused")

    threads = [threading.Thread(target=first_run, args=(name,)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["created", "refused"]
    with stage(ctx.db) as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar_one() == 1
    with pytest.raises(AlreadyInitialised, match="Sign in with that account"):
        service.create_first_administrator(CLI, _admin_form("carol"))


def test_maintenance_editors_cannot_manage_people_with_more_rights(ctx: CoreContext) -> None:
    """Maintenance Edit alone must not become an administrator through the Personnel form."""
    from pmdesk.core.models import GroupPermission, UserGroup

    service = PersonnelService(ctx)
    admin = service.create(CLI, _admin_form("root"))
    with stage(ctx.db) as s:
        clerks = UserGroup(name="Clerks", name_key="clerks")
        s.add(clerks)
        s.flush()
        s.add(
            GroupPermission(
                group_id=clerks.id,
                module_key="maintenance",
                can_read=True,
                can_edit=True,
                can_delete=True,
            )
        )
        clerks_id = clerks.id
    clerk_record = service.create(CLI, replace(_admin_form("clerk"), group_id=clerks_id))
    clerk = Actor(name="clerk", person_id=clerk_record.id)

    me = service.get(clerk, clerk_record.id)
    with pytest.raises(PermissionDenied, match="rights your own group lacks"):
        service.update(clerk, me.id, me.version, replace(me.form, group_id=1))
    with pytest.raises(PermissionDenied, match=r"\(Job Read, Job Edit, Job Delete and 33 more\)"):
        service.create(clerk, replace(_admin_form("mole"), group_id=1))
    with pytest.raises(PermissionDenied):
        service.set_password(clerk, admin.id, "taken over!", "taken over!")
    with pytest.raises(PermissionDenied):
        service.update(clerk, admin.id, admin.version, replace(admin.form, email="x@evil.example"))
    with pytest.raises(PermissionDenied):
        service.delete(clerk, admin.id, admin.version)
    assert service.get(CLI, admin.id).form.email == "jm@insypro.com"
    assert service.get(CLI, clerk_record.id).group_name == "Clerks"

    # Within their own rights they manage people as usual.
    colleague = service.create(clerk, replace(_admin_form("colleague"), group_id=clerks_id))
    service.update(clerk, colleague.id, colleague.version, replace(colleague.form, city="Gent"))
    service.set_password(clerk, colleague.id, "a new long one", "a new long one")


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("می\u200cخواهم", True),  # Persian with a zero-width non-joiner
        ("👩\u200d🔧 Mechanic", True),  # an emoji ZWJ sequence
        ("Smets\u2028Jan", False),  # line separator
        ("Smets\u202eteg", False),  # right-to-left override
        ("Sm\x07ets", False),  # bell
        ("\u200c", False),  # a joiner joining nothing
        ("Smets \u200dJan", False),
    ],
)
def test_names_keep_joiners_but_refuse_separators_and_controls(text: str, accepted: bool) -> None:
    from pmdesk.core.validation import FieldInvalid, clean_text

    if accepted:
        assert clean_text(text, label="Lastname", max_length=100) == text
    else:
        with pytest.raises(FieldInvalid, match="control or invisible"):
            clean_text(text, label="Lastname", max_length=100)


def test_a_broad_search_shows_rows_before_its_exact_count(
    ctx: CoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmdesk.core import personnel

    service = PersonnelService(ctx)
    for n in range(7):
        service.create(CLI, PersonForm(last_name=f"Smets {n}", number=f"E{n:03d}"))
    service.create(CLI, PersonForm(last_name="Peeters", number="X001"))
    monkeypatch.setattr(personnel, "SEARCH_COUNT_CAP", 3)

    broad = service.first_page(CLI, search="e0", limit=4)
    assert broad.total is None  # more matches than the cap: counted afterwards
    assert [r.last_name for r in broad.rows] == ["Smets 0", "Smets 1", "Smets 2", "Smets 3"]
    assert service.count(CLI, "e0") == 7

    narrow = service.first_page(CLI, search="x0", limit=4)
    assert (narrow.total, [r.last_name for r in narrow.rows]) == (1, ["Peeters"])


# ----- issue 19: every error at once (7), phone numbers libphonenumber knows (16) ---------------


def _errors(ctx: CoreContext, form: PersonForm, **options: bool) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        PersonnelService(ctx).validate(form, creating=True, **options)
    return caught.value.errors


def test_a_short_password_and_a_mismatch_are_both_reported(ctx: CoreContext) -> None:
    form = replace(_admin_form(), password="short", password_confirm="shirt")
    errors = _errors(ctx, form)
    assert errors == {
        "password": "The password must have at least 8 characters.",
        "password_confirm": "The passwords do not match.",
    }
    # Matching but short: only the length; long enough but not matching: only Confirm.
    assert set(_errors(ctx, replace(form, password_confirm="short"))) == {"password"}
    long_enough = replace(form, password="a long secret", password_confirm="a long secrets")
    assert set(_errors(ctx, long_enough)) == {"password_confirm"}
    # Confirm alone typed: the empty password is too short, and it does not match.
    assert set(_errors(ctx, replace(form, password="", password_confirm="x"))) == {
        "password",
        "password_confirm",
    }


def test_the_first_administrator_needs_a_login_named_with_the_rest(ctx: CoreContext) -> None:
    """First run shows every missing field at once, the login among them."""
    errors = _errors(ctx, PersonForm(group_id=1), login_required=True)
    assert errors == {
        "login": "Login is required.",
        "last_name": "Enter a last name or a forename.",
        "password": "A new login needs a password.",
    }
    with pytest.raises(ValidationError) as caught:
        PersonnelService(ctx).create_first_administrator(CLI, PersonForm(group_id=1))
    assert caught.value.errors == errors
    # A person without a login is still fine in Personnel.
    PersonnelService(ctx).validate(PersonForm(last_name="Maes"), creating=True)


def test_a_mobile_number_a_digit_short_is_refused(ctx: CoreContext) -> None:
    """Issue 19, item 16: "0470 12 34" was stored as +324701234."""
    service = PersonnelService(ctx)
    for field in ("mobile", "phone"):
        form = replace(_admin_form(), **{field: "0470 12 34"})
        message = _errors(ctx, form)[field]
        assert message.startswith(f"{field.capitalize()}: '0470 12 34' is not a valid phone")
    with stage(ctx.db) as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar_one() == 0
    record = service.create(CLI, replace(_admin_form(), mobile="0470 12 34 56"))
    assert record.form.mobile == "+32470123456"
    assert service.get(CLI, record.id).form.mobile == "+32470123456"
