"""The schema as SQLAlchemy Core tables; Alembic migrations are written from it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, UUID

from shared.brokers.catalog import Broker
from shared.db.types import Amount, Timestamp
from shared.domain.enums import OrderClass, OrderStatus, OrderType, Role, Side, TimeInForce

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: type[Side | OrderType | TimeInForce | OrderStatus | OrderClass
                                      | Role | Broker]) -> str:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return f"{column} IN ({listed})"


PENDING = "('PENDING_CANCEL', 'PENDING_REPLACE')"


def _owner(table: str = "users", ondelete: str | None = "CASCADE") -> ForeignKey:
    return ForeignKey(f"{table}.id", ondelete=ondelete)


def _created_at() -> Column[object]:
    return Column("created_at", Timestamp, nullable=False, server_default=func.now())


users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    # Shown as typed; unique regardless of case (uq_users_username_lower).
    Column("username", String(64)),
    Column("password_hash", Text, nullable=False),
    # Access and refresh tokens carry the generation they were issued in; logging out
    # everywhere (or a password change) moves it on, and every older token stops working.
    Column("token_generation", Integer, nullable=False, server_default=text("0")),
    # What the user may do beyond their own trading (api.deps.require_admin).
    Column("role", String(8), nullable=False, server_default=Role.USER.value),
    # When a login by a mailed code first proved the address (REQUIRE_EMAIL_VERIFICATION).
    Column("email_verified_at", Timestamp),
    _created_at(),
    CheckConstraint(_one_of("role", Role), name="role"),
    Index("uq_users_username_lower", func.lower(text("username")), unique=True),
    # The admin's search by prefix (e-mails are stored in lower case) and its pages.
    Index("ix_users_email_prefix", text("email text_pattern_ops")),
    Index("ix_users_username_prefix", text("lower(username) text_pattern_ops")),
    Index("ix_users_created", text("created_at DESC"), text("id DESC")),
)

# At most one login code per account (OTP login by e-mail); a newer one replaces it. A used
# or burnt code stays until replaced, so that its issue time still throttles resends.
login_codes = Table(
    "login_codes",
    metadata,
    Column("user_id", UUID(as_uuid=True), _owner(), primary_key=True),
    # HMAC-SHA256 of the code under the server secret (shared/domain/login_codes.py).
    Column("code_hash", String(64), nullable=False),
    Column("issued_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("used_at", Timestamp),
    CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),
)
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    # Only a SHA-256 of the token is stored: a leaked table cannot be replayed.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    # The user's token_generation at issue: a token from an older one no longer rotates.
    Column("generation", Integer, nullable=False, server_default=text("0")),
    _created_at(),
)

api_keys = Table(
    "api_keys",
    metadata,
    # The key id is part of the key (`og_<id hex>_<secret>`): a call finds its row by it.
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    # Only a SHA-256 of the whole key is stored: a leaked table cannot be replayed.
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    # IP addresses and CIDR networks a call may come from; NULL: from anywhere.
    Column("allowed_ips", ARRAY(Text)),
    Column("expires_at", Timestamp),
    Column("last_used_at", Timestamp),  # to a minute: not every call writes
    _created_at(),
    CheckConstraint("cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'trade']::text[]",
                    name="scopes"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("broker", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cash", Amount, nullable=False),
    Column("reserved_cash", Amount, nullable=False, server_default=text("0")),
    # A broker connection is an account: the columns below are empty for the paper account.
    Column("label", String(64)),
    Column("broker_user_id", String(64)),
    Column("status", String(16), nullable=False, server_default="active"),
    # Fernet ciphertext bound to (user, broker, account) inside; see shared/credentials.py.
    Column("credentials", Text),
    Column("token_expires_at", Timestamp),
    Column("last_error", Text),
    Column("webhook_token", String(64)),
    # A MARKET order outside its exchange's session waits for the open, or is rejected.
    Column("outside_session", String(6), nullable=False, server_default="wait"),
    # This account's own risk limits, over the settings' defaults (shared.domain.risk).
    Column("risk_limits", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("halted_at", Timestamp),  # the kill switch: no new orders while set
    _created_at(),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    CheckConstraint("reserved_cash >= 0", name="reserved_cash_non_negative"),
    CheckConstraint("status IN ('active', 'expired', 'revoked')", name="status"),
    CheckConstraint("outside_session IN ('wait', 'reject')", name="outside_session"),
    Index("uq_accounts_paper_user", "user_id", unique=True,
          postgresql_where=text("broker = 'paper'")),
    Index("uq_accounts_user_broker_login", "user_id", "broker", "broker_user_id", unique=True,
          postgresql_where=text("broker_user_id IS NOT NULL")),
    Index("uq_accounts_webhook_token", "webhook_token", unique=True,
          postgresql_where=text("webhook_token IS NOT NULL")),
    Index("ix_accounts_broker_login", "broker", "broker_user_id"),
)

instruments = Table(
    "instruments",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tick_size", Amount, nullable=False),
    Column("lot_size", Amount, nullable=False),
    Column("isin", String(12)),
    # Identifiers some brokers need besides exchange:symbol, e.g. Angel One's symboltoken.
    Column("broker_refs", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("segment", String(16)),  # a Kite dump's segment: NSE, NFO-FUT, MCX-FUT ...
    CheckConstraint("tick_size > 0 AND lot_size > 0", name="sizes"),
    # Search: symbol prefixes by btree (whatever the collation), substrings by pg_trgm.
    Index("ix_instruments_symbol_prefix", text("symbol text_pattern_ops")),
    Index("ix_instruments_name_prefix", text("lower(name) text_pattern_ops")),
    Index("ix_instruments_symbol_trgm", text("symbol gin_trgm_ops"), postgresql_using="gin"),
    Index("ix_instruments_name_trgm", text("lower(name) gin_trgm_ops"), postgresql_using="gin"),
)

quotes = Table(
    "quotes",
    metadata,
    Column("symbol", String(32), ForeignKey("instruments.symbol"), primary_key=True),
    Column("bid", Amount, nullable=False),
    Column("ask", Amount, nullable=False),
    Column("last", Amount, nullable=False),
    # What is left to trade at the touch of this quote: the paper exchange's fills use it up,
    # so a quote delivered twice never fills twice its size.
    Column("bid_size", Amount, nullable=False, server_default=text("100000")),
    Column("ask_size", Amount, nullable=False, server_default=text("100000")),
    # Counts the quotes of a symbol: a paper fill's trade id names the quote it traded on.
    Column("seq", BigInteger, nullable=False, server_default=text("0")),
    Column("ts", Timestamp, nullable=False, server_default=func.now()),
    CheckConstraint("bid > 0 AND ask >= bid AND last > 0", name="sane"),
    CheckConstraint("bid_size >= 0 AND ask_size >= 0", name="sizes"),
)

# The generated orders.is_open: the terminal statuses of shared.domain.orders, spelled out
# (test_dashboard_counts_open_orders_by_the_open_index checks they agree).
OPEN_ORDER = "status NOT IN ('CANCELED', 'EXPIRED', 'FILLED', 'REJECTED')"

orders = Table(
    "orders",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("account_id", UUID(as_uuid=True), _owner("accounts", None), nullable=False),
    Column("client_order_id", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64)),
    Column("symbol", String(32), ForeignKey("instruments.symbol"), nullable=False),
    Column("side", String(4), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("price", Amount),
    Column("stop_price", Amount),
    Column("time_in_force", String(3), nullable=False),
    Column("trail_price", Amount),
    Column("trail_percent", Amount),
    Column("hwm", Amount),  # a trailing stop's water mark
    Column("expire_at", Timestamp),
    Column("order_class", String(8), nullable=False, server_default="simple"),
    Column("parent_id", UUID(as_uuid=True), ForeignKey("orders.id")),
    # One of the user's portfolios, or none (fk_orders_user_id_portfolios: the user's own).
    Column("portfolio_id", UUID(as_uuid=True)),
    # An entry's take-profit / stop-loss terms, opened as legs by its fills (or an oco's accept).
    Column("exit_terms", JSONB),
    # The new terms a PENDING_REPLACE waits to have confirmed.
    Column("pending_terms", JSONB),
    Column("broker", String(32), nullable=False),
    Column("broker_order_id", String(64)),
    Column("product", String(8)),
    # Our id in the broker's tag/reference field: found by it after an unknown outcome.
    Column("broker_tag", String(64)),
    Column("broker_status", String(64)),  # the broker's raw status beside ours
    Column("status_detail", Text),  # why the order waits, or the broker's message
    # in_flight: placing, or the outcome is unknown; not_sent: certainly not placed; placed.
    Column("placement", String(16)),
    Column("placement_attempts", Integer, nullable=False, server_default=text("0")),
    Column("status", String(16), nullable=False),
    # Not final yet (kept by PostgreSQL): ix_orders_user_open names it, not `status`, so a
    # move between two open statuses stays a HOT update; only the move to a final one is not.
    Column("is_open", Boolean, Computed(OPEN_ORDER, persisted=True), nullable=False),
    # The status a pending state came from: where a refused cancel returns to.
    Column("previous_status", String(16)),
    # The broker execution ids booked on this order (the fills ledger's unique key backs it).
    Column("trade_ids", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("filled_quantity", Amount, nullable=False, server_default=text("0")),
    Column("avg_fill_price", Amount),
    # Σ quantity × price of the fills, unbounded NUMERIC: the average is rounded once from it.
    Column("filled_notional", Numeric(asdecimal=True), nullable=False, server_default=text("0")),
    # What this order still holds of the account's cash (BUY) or position (SELL).
    Column("reserved_cash", Amount, nullable=False, server_default=text("0")),
    Column("reserved_quantity", Amount, nullable=False, server_default=text("0")),
    Column("reject_reason", Text),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # The order row is its own dispatch record (outbox): the sweeper re-publishes when this passes.
    Column("next_dispatch_at", Timestamp),
    Column("dispatch_attempts", Integer, nullable=False, server_default=text("0")),
    _created_at(),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "client_order_id", name="uq_orders_user_client_order_id"),
    UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_idempotency_key"),
    CheckConstraint(_one_of("side", Side), name="side"),
    CheckConstraint(_one_of("order_type", OrderType), name="order_type"),
    CheckConstraint(_one_of("time_in_force", TimeInForce), name="time_in_force"),
    CheckConstraint(_one_of("status", OrderStatus), name="status"),
    CheckConstraint(f"(status IN {PENDING}) = (previous_status IS NOT NULL) AND"
                    f" (previous_status IS NULL OR {_one_of('previous_status', OrderStatus)})",
                    name="previous_status"),
    CheckConstraint(f"(status <> 'PENDING_REPLACE' OR pending_terms IS NOT NULL) AND"
                    f" (pending_terms IS NULL OR status IN {PENDING})", name="pending_terms"),
    CheckConstraint(_one_of("order_class", OrderClass), name="order_class"),
    CheckConstraint("time_in_force <> 'GTD' OR expire_at IS NOT NULL", name="gtd_expire_at"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="filled_bounds"),
    CheckConstraint("reserved_cash >= 0 AND reserved_quantity >= 0", name="reservations"),
    CheckConstraint("placement IN ('in_flight', 'not_sent', 'placed')", name="placement"),
    CheckConstraint("product IN ('CNC', 'MIS', 'NRML')", name="product"),
    Index("ix_orders_broker_order", "broker", "broker_order_id",
          postgresql_where=text("broker_order_id IS NOT NULL")),
    Index("ix_orders_broker_tag", "broker", "broker_tag", unique=True,
          postgresql_where=text("broker_tag IS NOT NULL")),
    # Never index a column an order update changes (status, updated_at): updates stay HOT.
    Index("ix_orders_at_brokers", "created_at", postgresql_where=text("broker <> 'paper'")),
    Index("ix_orders_parent", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
    # The open orders only (the dashboard's count): an order leaves it once, when it is final.
    Index("ix_orders_user_open", "user_id", "account_id", postgresql_where=text("is_open")),
    Index("ix_orders_user_created", "user_id", text("created_at DESC"), text("id DESC")),
    ForeignKeyConstraint(["user_id", "portfolio_id"], ["portfolios.user_id", "portfolios.id"],
                         name="fk_orders_user_id_portfolios"),
    Index("ix_orders_portfolio", "portfolio_id",
          postgresql_where=text("portfolio_id IS NOT NULL")),
    Index(
        "ix_orders_due_dispatch",
        "next_dispatch_at",
        postgresql_where=text("next_dispatch_at IS NOT NULL"),
    ),
)

# One row per open order something must act on without being asked: a paper order resting on
# the paper exchange's book at a price level, or an order that expires at a time. The repository
# keeps it in step with the order on every save (shared.domain.triggers says what it holds).
order_triggers = Table(
    "order_triggers",
    metadata,
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"),
           primary_key=True),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    # The book: the order acts once the touch (ask for a BUY, bid for a SELL) is at or below
    # ('le') or at or above ('ge') `level`; 'any' acts on every quote (a MARKET order waiting
    # for size). NULL: not on the book.
    Column("direction", String(3)),
    Column("level", Amount),
    Column("mark", Amount),  # a trailing stop's water mark: a better touch moves it
    Column("queued_at", Timestamp, nullable=False),  # time priority at a level
    Column("expire_at", Timestamp),
    CheckConstraint("direction IN ('le', 'ge', 'any')", name="direction"),
    CheckConstraint("(direction IN ('le', 'ge')) = (level IS NOT NULL)", name="level"),
    CheckConstraint("direction IS NOT NULL OR expire_at IS NOT NULL", name="something"),
    Index("ix_order_triggers_book", "symbol", "side", "direction", "level", "queued_at",
          postgresql_where=text("direction IS NOT NULL")),
    Index("ix_order_triggers_mark", "symbol", "side", "mark",
          postgresql_where=text("mark IS NOT NULL")),
    Index("ix_order_triggers_expiry", "expire_at", postgresql_where=text("expire_at IS NOT NULL")),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", UUID(as_uuid=True), _owner("orders"), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("detail", JSONB),
    # Who or what caused the transition: "user:<id>", "paper", "broker:<name>", "expiry"...
    Column("actor", String(64)),
    _created_at(),
    # The stream's cursor: numbered per user at commit, in commit order (migration 0011's
    # trigger), so a reader that sees seq N has seen every lower one. NULL until commit.
    Column("seq", BigInteger),
    UniqueConstraint("order_id", "version", name="uq_order_events_order_version"),
    Index("uq_order_events_user_seq", "user_id", "seq", unique=True),
    Index("ix_order_events_unsequenced", "user_id", postgresql_where=text("seq IS NULL")),
)

# Each user's last stream seq; its row lock orders the user's commits.
stream_seqs = Table(
    "stream_seqs",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

fills = Table(
    "fills",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), _owner("orders"), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), _owner("accounts", None), nullable=False),
    Column("broker", String(32), nullable=False),
    Column("broker_exec_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("price", Amount, nullable=False),
    # Every charge of the fill, taken from cash; brokerage and margin funding (MTF) apart.
    Column("commission", Amount, nullable=False, server_default=text("0")),
    Column("brokerage_charge", Amount, nullable=False, server_default=text("0")),
    Column("mtf_charge", Amount, nullable=False, server_default=text("0")),
    Column("executed_at", Timestamp, nullable=False),
    _created_at(),
    # A fill delivered twice counts once: the broker's execution id is unique per account.
    UniqueConstraint("broker", "account_id", "broker_exec_id", name="uq_fills_broker_exec"),
    CheckConstraint("quantity > 0 AND price > 0", name="positive"),
    Index("ix_fills_user_created", "user_id", text("created_at DESC"), text("id DESC")),
    Index("ix_fills_order", "order_id"),
    Index("ix_fills_account_symbol", "account_id", "symbol", "executed_at"),
)

positions = Table(
    "positions",
    metadata,
    Column("account_id", UUID(as_uuid=True), _owner("accounts", None), primary_key=True),
    Column("symbol", String(32), ForeignKey("instruments.symbol"), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("avg_price", Amount, nullable=False),
    Column("realized_pnl", Amount, nullable=False, server_default=text("0")),
    Column("reserved_quantity", Amount, nullable=False, server_default=text("0")),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    CheckConstraint("reserved_quantity >= 0", name="reserved_non_negative"),
    Index("ix_positions_user", "user_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("broker", String(32), nullable=False),
    # A redelivery carries the same id (the body's hash when the broker sends none).
    Column("delivery_id", String(128), nullable=False),
    Column("account_id", UUID(as_uuid=True), _owner("accounts", "SET NULL")),
    Column("broker_order_id", String(64)),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("error", Text),
    Column("received_at", Timestamp, nullable=False, server_default=func.now()),
    Column("processed_at", Timestamp),
    UniqueConstraint("broker", "delivery_id", name="uq_webhook_events_delivery"),
    CheckConstraint("status IN ('queued', 'processed', 'ignored', 'failed')", name="status"),
)

quality_checks = Table(
    "quality_checks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", UUID(as_uuid=True)),
    Column("account_id", UUID(as_uuid=True)),
    Column("order_id", UUID(as_uuid=True)),
    Column("broker", String(32), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSONB),
    _created_at(),
    Column("resolved_at", Timestamp),
    Index("ix_quality_checks_user_created", "user_id", text("created_at DESC")),
)

# --- Watchlists and user settings (issue 12) -------------------------------------------------

watchlists = Table(
    "watchlists",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("name", String(64), nullable=False),
    # shared.domain.watchlists.name_key(name): names are unique per user whatever their case.
    Column("name_key", Text, nullable=False),
    _created_at(),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "name_key", name="uq_watchlists_user_name_key"),
    Index("ix_watchlists_user_created", "user_id", text("created_at DESC"), text("id DESC")),
)

watchlist_items = Table(
    "watchlist_items",
    metadata,
    Column("watchlist_id", UUID(as_uuid=True), _owner("watchlists"), primary_key=True),
    # A delisted instrument leaves every watchlist with it.
    Column("symbol", String(32), ForeignKey("instruments.symbol", ondelete="CASCADE"),
           primary_key=True),
    # The list's order, as its owner arranged it; pages go by (position, symbol).
    Column("position", Integer, nullable=False),
    _created_at(),
    Index("ix_watchlist_items_watchlist_position", "watchlist_id", "position", "symbol"),
)

user_settings = Table(
    "user_settings",
    metadata,
    Column("user_id", UUID(as_uuid=True), _owner(), primary_key=True),
    Column("display_name", String(100)),
    Column("mobile", String(16)),  # E.164, e.g. +919876543210
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    # The service checks that it is one of the user's own accounts.
    Column("default_account_id", UUID(as_uuid=True), _owner("accounts", "SET NULL")),
    Column("default_order_type", String(16), nullable=False, server_default="LIMIT"),
    Column("default_time_in_force", String(8), nullable=False, server_default="DAY"),
    Column("confirm_orders", Boolean, nullable=False, server_default=text("true")),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    CheckConstraint(_one_of("default_order_type", OrderType), name="default_order_type"),
    CheckConstraint(_one_of("default_time_in_force", TimeInForce),
                    name="default_time_in_force"),
)

# --- Roles, the audit log, the cash journal, dispatch pauses (issue 11) ---------------------

# Append-only: migration 0016's trigger refuses UPDATE, DELETE and TRUNCATE. No foreign keys:
# an entry outlives the user and the API key it names.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    _created_at(),
    Column("action", String(48), nullable=False),  # shared.domain.audit.Action
    # Whose account the entry is about (GET /me/audit); NULL: nobody's (an unknown e-mail).
    Column("user_id", UUID(as_uuid=True)),
    # Who acted: that user, an admin, or NULL for an anonymous caller or the command line.
    Column("actor_user_id", UUID(as_uuid=True)),
    Column("api_key_id", UUID(as_uuid=True)),
    Column("target_type", String(32)),
    Column("target_id", String(128)),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("ip", INET),  # the client address the rate limiter counts
    Column("request_id", String(128)),
    Index("ix_audit_log_created", text("created_at DESC"), text("id DESC")),
    Index("ix_audit_log_user_created", "user_id", text("created_at DESC"), text("id DESC")),
    Index("ix_audit_log_action_created", "action", text("created_at DESC"), text("id DESC")),
)

# Every admin deposit (+) and withdrawal (-) of paper cash; append-only like the audit log.
cash_journal = Table(
    "cash_journal",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("account_id", UUID(as_uuid=True), _owner("accounts", None), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("cash_after", Amount, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor_user_id", UUID(as_uuid=True)),
    # A retry with the same key and body is answered with this entry; another body is a 422.
    Column("idempotency_key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    _created_at(),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    UniqueConstraint("account_id", "idempotency_key",
                     name="uq_cash_journal_account_idempotency_key"),
)

# A broker listed here has its new orders wait: accepted and stored, placed nowhere until the
# row is deleted (POST/DELETE /api/v1/admin/brokers/{broker}/pause).
dispatch_pauses = Table(
    "dispatch_pauses",
    metadata,
    Column("broker", String(32), primary_key=True),
    Column("paused_at", Timestamp, nullable=False, server_default=func.now()),
    Column("paused_by", UUID(as_uuid=True)),
    Column("reason", Text),
    CheckConstraint(_one_of("broker", Broker), name="broker"),
)

# Trades done outside ordergate (the journal); they book into positions and cash as fills do.
trades = Table(
    "trades",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("account_id", UUID(as_uuid=True), _owner("accounts", None), nullable=False),
    Column("symbol", String(32), ForeignKey("instruments.symbol"), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("price", Amount, nullable=False),
    Column("executed_at", Timestamp, nullable=False),
    Column("brokerage_charge", Amount, nullable=False, server_default=text("0")),
    Column("mtf_charge", Amount, nullable=False, server_default=text("0")),
    Column("type", String(3), nullable=False, server_default="eq"),  # eq or fno
    Column("notes", Text),
    Column("source", String(16), nullable=False, server_default="manual"),  # or tradebook
    # The broker's trade id of an imported trade: importing a tradebook again adds nothing.
    Column("external_id", String(64)),
    Column("portfolio_id", UUID(as_uuid=True)),  # one of the user's portfolios, or none
    _created_at(),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    CheckConstraint("quantity > 0 AND price > 0", name="positive"),
    CheckConstraint("brokerage_charge >= 0 AND mtf_charge >= 0", name="charges"),
    CheckConstraint(_one_of("side", Side), name="side"),
    CheckConstraint("type IN ('eq', 'fno')", name="type"),
    CheckConstraint("source IN ('manual', 'tradebook')", name="source"),
    UniqueConstraint("account_id", "external_id", name="uq_trades_account_external"),
    Index("ix_trades_user_executed", "user_id", text("executed_at DESC"), text("id DESC")),
    Index("ix_trades_account_symbol", "account_id", "symbol", "executed_at"),
    ForeignKeyConstraint(["user_id", "portfolio_id"], ["portfolios.user_id", "portfolios.id"],
                         name="fk_trades_user_id_portfolios"),
    Index("ix_trades_portfolio", "portfolio_id",
          postgresql_where=text("portfolio_id IS NOT NULL")),
)

# A user's named group of orders and journaled trades; positions and P&L roll up under it.
portfolios = Table(
    "portfolios",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("name", String(64), nullable=False),
    # shared.domain.names.name_key(name): names are unique per user whatever their case.
    Column("name_key", Text, nullable=False),
    Column("description", Text),
    _created_at(),
    Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "name_key", name="uq_portfolios_user_name_key"),
    UniqueConstraint("user_id", "id", name="uq_portfolios_user_id"),
    Index("ix_portfolios_user_created", "user_id", text("created_at DESC"), text("id DESC")),
)

# Delivery quantities as of a settled trading day (shared.domain.settlement), per account and
# symbol (portfolio_id null) and per portfolio; written by the end-of-day task only.
holdings = Table(
    "holdings",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("account_id", UUID(as_uuid=True), _owner("accounts"), nullable=False),
    Column("portfolio_id", UUID(as_uuid=True), _owner("portfolios")),
    Column("symbol", String(32), nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("quantity", Amount, nullable=False),  # settled
    Column("t1_quantity", Amount, nullable=False),  # bought, not settled yet
    Column("avg_price", Amount, nullable=False),
    Column("trading_day", Date, nullable=False),
    CheckConstraint("quantity >= 0 AND t1_quantity >= 0", name="held"),
    Index("uq_holdings_book", "user_id", "portfolio_id", "symbol", "account_id", unique=True,
          postgresql_nulls_not_distinct=True),
    Index("ix_holdings_exchange", "exchange"),
)

# One row per exchange and trading day the end-of-day task settled: a second run is a no-op.
settlement_runs = Table(
    "settlement_runs",
    metadata,
    Column("exchange", String(16), primary_key=True),
    Column("trading_day", Date, primary_key=True),
    Column("settled_at", Timestamp, nullable=False, server_default=func.now()),
)

# End-of-day equity, cash and P&L per account (portfolio_id null) and per portfolio and account,
# one a UTC day (the first taken is kept); written by the pnl.snapshot task only.
pnl_snapshots = Table(
    "pnl_snapshots",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", UUID(as_uuid=True), _owner(), nullable=False),
    Column("account_id", UUID(as_uuid=True), _owner("accounts"), nullable=False),
    Column("portfolio_id", UUID(as_uuid=True), _owner("portfolios")),
    Column("day", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cash", Amount),  # an account's; a portfolio holds no cash
    Column("equity", Amount),
    Column("market_value", Amount, nullable=False),
    Column("realized_pnl", Amount, nullable=False),
    Column("unrealized_pnl", Amount, nullable=False),
    Column("taken_at", Timestamp, nullable=False, server_default=func.now()),
    Index("uq_pnl_snapshots_book", "user_id", "portfolio_id", "day", "account_id", unique=True,
          postgresql_nulls_not_distinct=True),
)
