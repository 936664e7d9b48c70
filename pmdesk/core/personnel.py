"""Maintenance → Organisation → Personnel: staff records and their login accounts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Select,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from pmdesk.core import audit, lockout, office_networks, sessions
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    PmdeskError,
    ValidationError,
    message_of,
)
from pmdesk.core.i18n import translate
from pmdesk.core.locked_rows import write_changes_later
from pmdesk.core.models import (
    Language,
    Location,
    LoginFailure,
    Person,
    SecuritySettings,
    Team,
    TrustedIp,
    UserGroup,
)
from pmdesk.core.modules import MAINTENANCE, Action
from pmdesk.core.passwords import Passwords, normalise, password_problem
from pmdesk.core.permissions import administrator_counts as administrator_counts
from pmdesk.core.permissions import (
    granted_to,
    require,
    require_within_own_rights,
    right_column,
    rights_of_both_query,
)
from pmdesk.core.permissions import guard_administrators as _guard_administrators
from pmdesk.core.reads_along import read_along
from pmdesk.core.search import starts_with
from pmdesk.core.server import info as server_info
from pmdesk.core.server.personnel_audit_sql import PERSONNEL_AUDIT_LEVEL
from pmdesk.core.server.rules_sql import SERVER_RULES_LEVEL
from pmdesk.core.types import search_text
from pmdesk.core.validation import (
    DEFAULT_PHONE_REGION,
    FieldInvalid,
    clean_email,
    clean_login,
    clean_money,
    clean_phone,
    clean_text,
    login_key,
)

ACCESS_FLAGS = (
    "access_planning",
    "access_notifications",
    "access_inspection",
    "access_webservice",
    "access_courtesy_car",
    "access_reception",
)
SortKey = Literal["name", "first_name", "number", "login", "email", "group"]


#: The form's free-text fields: (field, its name in messages, its longest length).
_TEXT_FIELDS = (
    ("last_name", translate("personnel", "Lastname"), 100),
    ("first_name", translate("personnel", "Forename"), 100),
    ("number", translate("personnel", "Number"), 40),
    ("street", translate("personnel", "Street"), 200),
    ("postcode", translate("personnel", "Postcode"), 20),
    ("city", translate("personnel", "City"), 100),
    ("country", translate("personnel", "Country"), 100),
)


@dataclass(frozen=True)
class PersonForm:
    """What the edit form submits: text as typed, choices as ids."""

    last_name: str = ""
    first_name: str = ""
    number: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""
    phone: str = ""
    mobile: str = ""
    email: str = ""
    email_newsletter: bool = False
    email_invoicing: bool = False
    location_id: int | None = None
    group_id: int | None = None
    language_id: int | None = None
    team_id: int | None = None
    hourly_cost: str = ""
    login: str = ""
    # Empty password: keep the current one.
    password: str = ""
    password_confirm: str = ""
    visible: bool = True
    access_planning: bool = False
    access_notifications: bool = False
    access_inspection: bool = False
    access_webservice: bool = False
    access_courtesy_car: bool = False
    access_reception: bool = False


@dataclass(frozen=True)
class PersonRecord:
    """One person as stored, detached from the database session."""

    id: int
    version: int
    form: PersonForm
    group_name: str
    has_password: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.form.first_name, self.form.last_name) if p) or (
            self.form.login or f"#{self.id}"
        )


class PersonRow(NamedTuple):
    """A line of the Personnel list (a tuple: a page makes 256 of them, three times faster
    than as a frozen dataclass)."""

    id: int
    last_name: str
    first_name: str
    number: str
    login: str
    email: str
    group_name: str
    locked_until: datetime | None


@dataclass(frozen=True)
class FirstPage:
    """The first rows of the list and, when known already, how many rows there are."""

    rows: list[PersonRow]
    total: int | None


@dataclass(frozen=True)
class UnlockedAll:
    """What Unlock all did: who was unlocked, and who was left locked (beyond one's rights)."""

    unlocked: list[str]
    skipped: list[str]


@dataclass(frozen=True)
class Choice:
    id: int
    name: str


@dataclass(frozen=True)
class Lookups:
    groups: list[Choice]
    locations: list[Choice]
    teams: list[Choice]
    languages: list[Choice]


_SORT_COLUMNS = {
    "name": (Person.last_name_key, Person.first_name_key),
    "first_name": (Person.first_name_key, Person.last_name_key),
    "number": (Person.number_key,),
    "login": (Person.login_key,),
    "email": (Person.email_key,),
    "group": (UserGroup.name,),
}
_SEARCHED = ("last_name_key", "first_name_key", "number_key", "login_key", "email_key")
# A search matching a tenth of everyone or more (a short prefix: "e", "ma"), and at least (page
# size x 16) people, walks the list's sort index and stops after a page of matches; fewer are
# gathered by the search indexes and sorted. (Left to themselves, the planners gather and sort
# even when nearly everyone matches; a sparser match may sit far down the sort order, where
# a walk would take longer than gathering.)
_DENSE_FACTOR = 16
# A search's first answer counts matches up to this, or a tenth of everyone if more.
SEARCH_COUNT_CAP = 5_000
_DENSE_SHARE = 10


class AlreadyInitialised(PmdeskError):
    """First-run set-up was already done."""


class PersonnelService:
    def __init__(self, ctx: CoreContext, passwords: Passwords | None = None) -> None:
        self._ctx = ctx
        self._passwords = passwords or Passwords()

    # ----- reading -------------------------------------------------------------------------

    def lookups(self) -> Lookups:
        with self._ctx.db.session() as s:

            def choices(model: type[UserGroup] | type[Location] | type[Team]) -> list[Choice]:
                rows = s.execute(select(model.id, model.name).order_by(model.name)).all()
                return [Choice(r.id, r.name) for r in rows]

            languages = s.execute(select(Language.id, Language.name).order_by(Language.id))
            return Lookups(
                groups=choices(UserGroup),
                locations=choices(Location),
                teams=choices(Team),
                languages=[Choice(r.id, r.name) for r in languages],
            )

    @staticmethod
    def _search_clause(
        dialect: str, search: str, *, indexed: bool = True
    ) -> ColumnElement[bool] | None:
        """Any of the keys starts with the typed text ("jan smets" also: forename + lastname).

        ``indexed=False`` words the same test so that no index serves it (``coalesce(key,
        '')``): the database then walks the sort index and stops after a page of matches.
        """
        term = search_text(search)
        if not term:
            return None

        def key(name: str) -> Any:
            column = getattr(Person, name)
            return column if indexed else func.coalesce(column, "")

        matches = [starts_with(key(name), term, dialect) for name in _SEARCHED]
        first, _, rest = term.partition(" ")
        if rest:
            matches.append(
                and_(
                    key("first_name_key") == first,
                    starts_with(key("last_name_key"), rest.strip(), dialect),
                )
            )
        return or_(*matches)

    def count(self, actor: Actor, search: str = "") -> int:
        return self.count_and_clock(actor, search)[0]

    def count_and_clock(self, actor: Actor, search: str = "") -> tuple[int, datetime]:
        """How many people the list has (matching ``search``), and the database clock (for
        the Locked column), in one statement: the right to read rides along as its condition
        (only a count of 0 asks again, to tell nobody from not allowed)."""
        clock = self._ctx.clock
        with self._ctx.db.reading() as conn:
            stmt = select(func.count(), clock.column(conn.dialect.name)).select_from(Person)
            clause = self._search_clause(conn.dialect.name, search)
            if clause is not None:
                stmt = stmt.where(clause)
            stmt = stmt.where(right_column(actor, MAINTENANCE, Action.READ))
            total, now = conn.execute(stmt).one()
            if not total:
                require(conn, actor, MAINTENANCE, Action.READ)
            return int(total), clock.read(now)

    def page(
        self,
        actor: Actor,
        *,
        search: str = "",
        sort: SortKey = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int = 256,
    ) -> list[PersonRow]:
        with self._ctx.db.reading() as conn:
            return self._page(conn, search, sort, descending, offset, limit, reader=actor)

    def first_page(
        self,
        actor: Actor,
        *,
        search: str = "",
        sort: SortKey = "name",
        descending: bool = False,
        limit: int = 256,
    ) -> FirstPage:
        """The first page, as fast as the database can give it (the list's first answer).

        With a search the matches are counted first, up to ``SEARCH_COUNT_CAP`` (one unit of
        work), and the count picks the plan: many matches walk the list's sort index until a
        page is found; a few are gathered by the search indexes and sorted. ``total`` is None
        when it is not known yet (no search and a full page, or more matches than the cap):
        count separately (``count``), after the rows are on screen.
        """
        with self._ctx.db.reading() as conn:
            if not search_text(search):
                rows = self._page(conn, "", sort, descending, 0, limit, reader=actor)
                return FirstPage(rows, len(rows) if len(rows) < limit else None)
            require(conn, actor, MAINTENANCE, Action.READ)
            clause = self._search_clause(conn.dialect.name, search)
            assert clause is not None
            # Counting stops at the share of everyone where walking the sort index finds a page
            # at once (an exact count of 100,000 matches costs ~100 ms on PostgreSQL, more than
            # the page); past it ``total`` is None and the exact count follows separately, after
            # the rows are on screen. Below it the count picks the plan as before.
            people = _rows_in(conn)
            cap = max(SEARCH_COUNT_CAP, people // _DENSE_SHARE)
            capped = select(Person.id).where(clause).limit(cap + 1).subquery()
            total = int(conn.execute(select(func.count()).select_from(capped)).scalar_one())
            if total > cap:
                return FirstPage(
                    self._page(conn, search, sort, descending, 0, limit, indexed=False), None
                )
            dense = total >= limit * _DENSE_FACTOR and total * _DENSE_SHARE >= people
            rows = self._page(conn, search, sort, descending, 0, limit, indexed=not dense)
            return FirstPage(rows, total)

    def _page(
        self,
        conn: Connection,
        search: str,
        sort: SortKey,
        descending: bool,
        offset: int,
        limit: int,
        *,
        indexed: bool = True,
        reader: Actor | None = None,
    ) -> list[PersonRow]:
        """One page of the list; with ``reader``, checking in the same query that they may
        read it (one round trip: this is what opening Personnel and scrolling wait for)."""
        checked = reader is not None and not reader.is_system
        stmt = _list_query(sort, descending, checked=checked)
        clause = self._search_clause(conn.dialect.name, search, indexed=indexed)
        if clause is not None:
            stmt = stmt.where(clause)
        params: dict[str, int] = {"offset": max(offset, 0), "limit": max(limit, 0)}
        if checked:
            assert reader is not None and reader.person_id is not None
            params["reader_id"] = reader.person_id
        rows = conn.execute(stmt, params).all()
        if not rows and reader is not None:
            require(conn, reader, MAINTENANCE, Action.READ)  # nothing there, or not allowed?
        return list(map(PersonRow._make, rows))

    def get(self, actor: Actor, person_id: int) -> PersonRecord:
        with self._ctx.db.session() as s:
            if actor.person_id != person_id:
                require(s, actor, MAINTENANCE, Action.READ)
            return _record(_load(s, person_id))

    def find_by_login(self, login: str) -> PersonRecord | None:
        with self._ctx.db.session() as s:
            person = s.execute(
                select(Person).where(Person.login_key == login_key(login))
            ).scalar_one_or_none()
            return _record(person) if person else None

    def has_users(self) -> bool:
        with self._ctx.db.session() as s:
            if self._ctx.db.server_reads:  # no row is visible before a sign-in
                return server_info.read(s).has_users
            return (
                s.execute(select(Person.id).where(Person.login_key.is_not(None)).limit(1)).first()
                is not None
            )

    def anyone_can_sign_in(self) -> bool:
        """Someone has a login and a password (until then, ``pmdesk user add`` is open)."""
        with self._ctx.db.session() as s:
            if self._ctx.db.server_reads:  # no row is visible before a sign-in
                return server_info.read(s).anyone_can_sign_in
            found = s.execute(
                select(Person.id)
                .where(Person.login_key.is_not(None), Person.password_hash.is_not(None))
                .limit(1)
            ).first()
            return found is not None

    def _phone_region(self) -> str:
        """The ``phone_region`` setting (before anyone may read it, the default)."""
        with self._ctx.db.session() as s:
            region = s.execute(
                select(SecuritySettings.phone_region).order_by(SecuritySettings.id).limit(1)
            ).scalar_one_or_none()
        return region or DEFAULT_PHONE_REGION

    # ----- writing -------------------------------------------------------------------------

    def validate(
        self, form: PersonForm, *, creating: bool, login_required: bool = False
    ) -> dict[str, object]:
        """Clean every field; raise ValidationError naming each bad field, all at once.

        ``login_required``: the person must get a login (the first administrator).
        """
        errors: dict[str, str] = {}
        clean: dict[str, object] = {}

        def field(name: str, check: object) -> None:
            try:
                clean[name] = check() if callable(check) else check
            except FieldInvalid as exc:
                errors[name] = message_of(exc)

        for name, label, length in _TEXT_FIELDS:
            typed = str(getattr(form, name))
            field(name, lambda t=typed, n=label, m=length: clean_text(t, label=n, max_length=m))
        # A number without a country code is one of the office's region (System → Security).
        numbers = form.phone.strip() or form.mobile.strip()
        region = self._phone_region() if numbers else DEFAULT_PHONE_REGION
        field(
            "phone",
            lambda: clean_phone(form.phone, label=translate("personnel", "Phone"), region=region),
        )
        field(
            "mobile",
            lambda: clean_phone(form.mobile, label=translate("personnel", "Mobile"), region=region),
        )
        field("email", lambda: clean_email(form.email))
        field("hourly_cost", lambda: clean_money(form.hourly_cost))
        login = form.login.strip()
        field("login", lambda: clean_login(login) if login or login_required else None)
        if (
            not errors.get("last_name")
            and not clean.get("last_name")
            and not clean.get("first_name")
        ):
            errors["last_name"] = translate("personnel", "Enter a last name or a forename.")
        if form.password or form.password_confirm:
            # A short password and a mismatch are both said at once, each under its field.
            problem = password_problem(form.password)
            if problem:
                errors["password"] = problem
            if normalise(form.password_confirm) != normalise(form.password):
                errors["password_confirm"] = translate("personnel", "The passwords do not match.")
        elif creating and (login or login_required):
            errors["password"] = translate("personnel", "A new login needs a password.")
        if (form.email_newsletter or form.email_invoicing) and not form.email.strip():
            errors.setdefault(
                "email", translate("personnel", "Enter an e-mail address to use it for mail.")
            )
        if errors:
            raise ValidationError(errors)
        for name in ("email_newsletter", "email_invoicing", "visible", *ACCESS_FLAGS):
            clean[name] = bool(getattr(form, name))
        for name in ("location_id", "group_id", "language_id", "team_id"):
            clean[name] = getattr(form, name)
        return clean

    def create(self, actor: Actor, form: PersonForm) -> PersonRecord:
        clean = self.validate(form, creating=True)
        with self._ctx.db.write_session() as s:
            require(s, actor, MAINTENANCE, Action.EDIT)
            require_within_own_rights(
                s,
                actor,
                form.group_id,
                doing=translate("personnel", "give a new person that user group"),
            )
            return self._insert(s, actor, clean, form)

    def create_first_administrator(self, actor: Actor, form: PersonForm) -> PersonRecord:
        """The first login of a fresh database; refused once anyone has a login.

        Two workstations running first start at once must not both succeed: the settings row
        is locked as a mutex (SQLite's BEGIN IMMEDIATE serialises writers already).
        """
        clean = self.validate(form, creating=True, login_required=True)
        with self._ctx.db.write_session() as s:
            s.execute(
                select(SecuritySettings.id).order_by(SecuritySettings.id).limit(1).with_for_update()
            ).first()
            if self._ctx.db.server_reads:  # no row is visible to the workstation yet
                taken = server_info.read(s).has_users
            else:
                taken = (
                    s.execute(
                        select(Person.id).where(Person.login_key.is_not(None)).limit(1)
                    ).first()
                    is not None
                )
            if taken:
                raise AlreadyInitialised(
                    translate(
                        "personnel",
                        "An administrator was created meanwhile (perhaps on another "
                        "workstation). Sign in with that account.",
                    )
                )
            if self._ctx.db.hardening_level == 0:
                office_networks.apply_new_database_policy(s)
            else:  # nobody is signed in to write the setting: the server's function does
                office_networks.start_new_database_on_server(s)
            return self._insert(s, actor, clean, form)

    def _insert(
        self, s: Session, actor: Actor, clean: dict[str, object], form: PersonForm
    ) -> PersonRecord:
        self._check_references(s, clean)
        now = self._ctx.clock.now(s)
        person = Person(created_at=now, updated_at=now)
        self._apply(s, person, clean, form, now)
        s.add(person)
        self._flush_unique(s)
        if not self._server_logs_people():
            audit.record(s, self._ctx.clock, actor, Event.PERSON_CREATED, subject=_subject(person))
        return _record(person)

    def update(
        self, actor: Actor, person_id: int, expected_version: int, form: PersonForm
    ) -> PersonRecord:
        """Save the form over the record; ConflictError when it changed since it was read."""
        clean = self.validate(form, creating=False)
        try:
            with self._ctx.db.write_session() as s:
                if actor.person_id is not None and form.group_id is not None:
                    # Checked after the person is read, unless the group changed meanwhile.
                    read_along(
                        s,
                        rights_of_both_query(actor.person_id, form.group_id),
                        *_reference_queries(clean),
                    )
                person, now = self._load_to_edit(s, actor, person_id)
                if person.version != expected_version:
                    raise ConflictError(_conflict_message(person), current=_record(person))
                require_within_own_rights(
                    s, actor, person.group_id, doing=translate("personnel", "change this person")
                )
                if form.group_id != person.group_id:
                    require_within_own_rights(
                        s,
                        actor,
                        form.group_id,
                        doing=translate("personnel", "move this person to that user group"),
                    )
                _referenced = self._check_references(s, clean)  # kept: _record reads the group
                before = asdict(_to_form(person))
                old_group, old_login = person.group_id, person.login_key
                password_changed = self._apply(s, person, clean, form, now)
                person.updated_at = now
                after = asdict(_to_form(person))
                changed = sorted(k for k in after if before[k] != after[k] and "password" not in k)
                # The log row first: once one's own new password reaches a hardened server,
                # one's session opens nothing more in this transaction (current_person()).
                if not self._server_logs_people():
                    with s.no_autoflush:
                        entry = (_subject(person), ", ".join(changed))
                        audit.record_many(s, now, actor, Event.PERSON_UPDATED, [entry])
                # Locked and its version checked: the UPDATE goes with the COMMIT (or the
                # next statement), and a login already taken is told below.
                write_changes_later(s, person)
                if old_group != person.group_id or old_login != person.login_key:
                    # Moved, or can no longer sign in: was that the last administrator?
                    _guard_administrators(s)
                if password_changed:
                    self._after_password_change(s, actor, person)
                return _record(person)
        except IntegrityError as exc:
            _refuse_if_login_taken(exc)
            raise
        except StaleDataError as exc:
            raise ConflictError(
                translate(
                    "personnel",
                    "Another workstation saved this person at the same moment. Reload and try "
                    "again.",
                )
            ) from exc

    def delete(self, actor: Actor, person_id: int, expected_version: int) -> None:
        if actor.person_id == person_id:
            raise PermissionDenied(translate("personnel", "You cannot delete your own account."))
        with self._ctx.db.write_session() as s:
            require(s, actor, MAINTENANCE, Action.DELETE)
            person = _load(s, person_id)
            if person.version != expected_version:
                raise ConflictError(_conflict_message(person), current=_record(person))
            require_within_own_rights(
                s, actor, person.group_id, doing=translate("personnel", "delete this person")
            )
            subject = _subject(person)
            s.execute(delete(TrustedIp).where(TrustedIp.person_id == person_id))
            s.delete(person)
            s.flush()
            _guard_administrators(s)
            if not self._server_logs_people():
                audit.record(s, self._ctx.clock, actor, Event.PERSON_DELETED, subject=subject)

    def set_password(self, actor: Actor, person_id: int, password: str, confirm: str) -> None:
        problem = password_problem(password, confirm)
        if problem:
            raise ValidationError({"password": problem})
        with self._ctx.db.write_session() as s:
            person = _load(s, person_id)
            if actor.person_id != person_id:
                require(s, actor, MAINTENANCE, Action.EDIT)
                require_within_own_rights(
                    s,
                    actor,
                    person.group_id,
                    doing=translate("personnel", "set this person's password"),
                )
            # The time first: reading it flushes, and the password and its time must go in one
            # UPDATE (a hardened server voids one's own session once the hash is new).
            now = self._ctx.clock.now(s)
            person.password_hash = self._passwords.hash(password)
            person.password_changed_at = now
            self._after_password_change(s, actor, person)

    def unlock(self, actor: Actor, person_id: int) -> None:
        """Unlock an account, everywhere and at every address (Maintenance Edit), only for
        people whose rights do not exceed one's own: otherwise unlocking after every few
        guesses would defeat the lockout."""
        with self._ctx.db.write_session() as s:
            require(s, actor, MAINTENANCE, Action.EDIT)
            # Locked first, as a sign-in step locks them: its failure counts, written with
            # its COMMIT, are then never lost to an unlock in between (lockout.py).
            person = lockout.lock_for_update(s, person_id) or _load(s, person_id)
            require_within_own_rights(s, actor, person.group_id, doing="unlock this person")
            self._unlock(s, actor, person)

    def locked_now(self, actor: Actor) -> list[lockout.Lock]:
        """Every lock in force (Maintenance Read): people locked everywhere, and people
        locked from one address, the longest first."""
        with self._ctx.db.session() as s:
            require(s, actor, MAINTENANCE, Action.READ)
            return lockout.locks_in_force(s, self._ctx.clock.now(s))

    def unlock_all(self, actor: Actor) -> UnlockedAll:
        """Unlock everyone locked now (Maintenance Edit), each audited as one unlock; people
        whose rights exceed one's own are left locked and named."""
        unlocked: list[str] = []
        skipped: list[str] = []
        with self._ctx.db.write_session() as s:
            require(s, actor, MAINTENANCE, Action.EDIT)
            locks = lockout.locks_in_force(s, self._ctx.clock.now(s))
            for person_id in sorted({lock.person_id for lock in locks}):
                person = lockout.lock_for_update(s, person_id)
                if person is None:
                    continue
                try:
                    require_within_own_rights(s, actor, person.group_id, doing="unlock")
                except PermissionDenied:
                    skipped.append(_subject(person))
                    continue
                self._unlock(s, actor, person)
                unlocked.append(_subject(person))
        return UnlockedAll(unlocked, skipped)

    def _unlock(self, s: Session, actor: Actor, person: Person) -> None:
        # A plain UPDATE, as the lockout writes the counters: no version bump, so an
        # administrator editing this person meanwhile gets no false conflict. On a hardened
        # server this UPDATE is the unlock: its trigger logs it and clears the address locks
        # (personnel_audit_sql), which the workstation may not write.
        s.execute(
            update(Person)
            .where(Person.id == person.id)
            .values(locked_until=None, failed_logins=0, lock_count=0)
            .execution_options(synchronize_session=False)
        )
        s.expire(person, ["locked_until", "failed_logins", "lock_count"])
        if self._server_logs_people():
            return
        s.execute(delete(LoginFailure).where(LoginFailure.person_id == person.id))
        audit.record(s, self._ctx.clock, actor, Event.ACCOUNT_UNLOCKED, subject=_subject(person))

    # ----- helpers -------------------------------------------------------------------------

    def _server_logs_people(self) -> bool:
        """Whether the server writes this change's person.* row (personnel_audit_sql): on a
        hardened database, for the session the connection presents. Without one (the first
        administrator, or the owner's connection) it is written here."""
        db = self._ctx.db
        return db.session_token is not None and db.hardening_level >= PERSONNEL_AUDIT_LEVEL

    def _apply(
        self, s: Session, person: Person, clean: dict[str, object], form: PersonForm, now: datetime
    ) -> bool:
        for name, value in clean.items():
            if name == "login":
                person.login = value if isinstance(value, str) else None
                person.login_key = login_key(value) if isinstance(value, str) else None
            else:
                setattr(person, name, value)
        person.last_name_key = _key(person.last_name, _KEY_LENGTHS["last_name_key"])
        person.first_name_key = _key(person.first_name, _KEY_LENGTHS["first_name_key"])
        person.number_key = _key(person.number, _KEY_LENGTHS["number_key"])
        person.email_key = _key(person.email, _KEY_LENGTHS["email_key"])
        if form.password:
            person.password_hash = self._passwords.hash(form.password)
            person.password_changed_at = now
            return person.id is not None
        return False

    def _after_password_change(self, s: Session, actor: Actor, person: Person) -> None:
        # A new password ends every trust the old one earned. A hardened server does it at
        # commit, and audits it as the session that set it (rules_sql): once, not twice.
        if self._ctx.db.hardening_level >= SERVER_RULES_LEVEL:
            return
        removed = s.execute(delete(TrustedIp).where(TrustedIp.person_id == person.id))
        ended = sessions.end_all(s, person.id)
        audit.record(
            s,
            self._ctx.clock,
            actor,
            Event.PASSWORD_CHANGED,
            subject=_subject(person),
            detail=f"trusted addresses removed: {getattr(removed, 'rowcount', 0)}; "
            f"sessions ended: {ended}",
        )

    def _load_to_edit(self, s: Session, actor: Actor, person_id: int) -> tuple[Person, datetime]:
        """The person to change, locked, and the transaction's "now", with the right to edit
        checked in the same statement (Maintenance Edit)."""
        clock = self._ctx.clock
        allowed = right_column(actor, MAINTENANCE, Action.EDIT)
        found = s.execute(
            select(Person, allowed, clock.column(s.get_bind().dialect.name))
            .where(Person.id == person_id)
            .with_for_update(of=Person)  # held until the save commits (write_changes_later)
        ).first()
        if found is None or not found[1]:
            require(s, actor, MAINTENANCE, Action.EDIT)  # refused, or else: not there
            return _load(s, person_id), clock.now(s)
        return found[0], clock.observe(s, found[2])

    @staticmethod
    def _check_references(s: Session, clean: dict[str, object]) -> list[object]:
        """The rows the form refers to (kept by the caller while it works: the session holds
        them only weakly); a ValidationError for those gone."""
        errors: dict[str, str] = {}
        found: list[object] = []
        checks = (
            (
                "group_id",
                translate("personnel", "That user group no longer exists; choose another."),
            ),
            (
                "location_id",
                translate("personnel", "That location no longer exists; choose another."),
            ),
            (
                "language_id",
                translate("personnel", "That language no longer exists; choose another."),
            ),
            (
                "team_id",
                translate("personnel", "That team no longer exists; choose another."),
            ),
        )
        for name, gone in checks:
            value = clean.get(name)
            row = (
                s.execute(_reference_query(_REFERENCED[name], value)).scalar_one_or_none()
                if isinstance(value, int)
                else None
            )
            if value is not None and row is None:
                errors[name] = gone
            found.append(row)
        if clean.get("login") and clean.get("group_id") is None:
            errors["group_id"] = translate("personnel", "A person with a login needs a user group.")
        if errors:
            raise ValidationError(errors)
        return found

    @staticmethod
    def _flush_unique(s: Session) -> None:
        try:
            with s.begin_nested():
                s.flush()
        except IntegrityError as exc:
            _refuse_if_login_taken(exc)
            raise


def _refuse_if_login_taken(exc: IntegrityError) -> None:
    """The form's message when the server refused a login another person has."""
    if "login" in str(exc.orig).lower():
        raise ValidationError(
            {"login": translate("personnel", "This login is already taken.")}
        ) from exc


_KEY_LENGTHS = {
    name: int(getattr(Person.__table__.columns[name].type, "length", 0) or 0)
    for name in ("last_name_key", "first_name_key", "number_key", "email_key")
}


# A row of the list query: PersonRow's fields.
_ListQuery = Select[int, str, str, str, str, str, str, datetime | None]


@cache
def _list_query(sort: SortKey, descending: bool, *, checked: bool) -> _ListQuery:
    """The list's page query, built once per sort order (building it costs as much as running
    it for a page of 256). Parameters: ``offset``, ``limit`` and, when ``checked``,
    ``reader_id``: the query then returns rows only if that person may read Personnel."""
    stmt = select(
        Person.id,
        Person.last_name,
        Person.first_name,
        Person.number,
        func.coalesce(Person.login, ""),
        Person.email,
        func.coalesce(UserGroup.name, ""),
        Person.locked_until,
    ).outerjoin(UserGroup, UserGroup.id == Person.group_id)
    if checked:
        stmt = stmt.where(granted_to(bindparam("reader_id"), MAINTENANCE, Action.READ))
    columns = (*_SORT_COLUMNS[sort], Person.id)
    stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))
    return stmt.offset(bindparam("offset")).limit(bindparam("limit"))


def _rows_in(conn: Connection) -> int:
    """How many people there are, roughly (PostgreSQL's estimate; an exact count elsewhere)."""
    if conn.dialect.name == "postgresql":
        estimate = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'personnel'::regclass")
        ).scalar()
        if estimate is not None and float(estimate) >= 0:
            return int(float(estimate))
    return int(conn.execute(select(func.count()).select_from(Person)).scalar_one())


def _key(value: str, length: int) -> str:
    """The search key of a field, cut to its column: lower() can lengthen a text ('İ' becomes
    'i' + a combining dot), and PostgreSQL and MariaDB refuse a key longer than its column."""
    return search_text(value)[:length]


def _load(s: Session, person_id: int) -> Person:
    person = s.get(Person, person_id)
    if person is None:
        raise NotFound(
            translate("personnel", "This person no longer exists (another workstation deleted it).")
        )
    return person


def _to_form(person: Person) -> PersonForm:
    values = {f.name: getattr(person, f.name, None) for f in fields(PersonForm)}
    values["login"] = person.login or ""
    values["password"] = ""
    values["password_confirm"] = ""
    cost: Decimal | None = person.hourly_cost
    values["hourly_cost"] = "" if cost is None else f"{cost:.2f}"
    return PersonForm(**values)  # type: ignore[arg-type]


def _record(person: Person) -> PersonRecord:
    return PersonRecord(
        id=person.id,
        version=person.version,
        form=_to_form(person),
        group_name=person.group.name if person.group else "",
        has_password=bool(person.password_hash),
        failed_logins=person.failed_logins,
        locked_until=person.locked_until,
        created_at=person.created_at,
        updated_at=person.updated_at,
    )


def _subject(person: Person) -> str:
    return audit.person_subject(person.id, person.login, person.first_name, person.last_name)


def _conflict_message(person: Person) -> str:
    return translate(
        "personnel",
        "{person} was changed on another workstation since you opened it. Your changes are "
        "still in the form; compare them with the current values and save again.",
    ).format(person=_subject(person))


_REFERENCED: dict[str, type[UserGroup | Location | Language | Team]] = {
    "group_id": UserGroup,
    "location_id": Location,
    "language_id": Language,
    "team_id": Team,
}


def _reference_query(
    model: type[UserGroup | Location | Language | Team], row_id: int
) -> Select[Any]:
    """A row the form refers to, by id (``_check_references``)."""
    return select(model).where(model.id == row_id)


def _reference_queries(clean: dict[str, object]) -> list[Executable]:
    """The reads ``_check_references`` makes for this form: a save reads them along."""
    return [
        _reference_query(model, value)
        for name, model in _REFERENCED.items()
        if isinstance((value := clean.get(name)), int)
    ]
