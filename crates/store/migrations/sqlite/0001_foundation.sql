-- Instants are BIGINT microseconds since the Unix epoch (UTC); money is BIGINT units of 10^-5;
-- percents are BIGINT units of 10^-4; documents are JSON text. The same shapes exist on PostgreSQL.

CREATE TABLE installation_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE customer_classes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_reseller_id BIGINT REFERENCES parties (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    currency TEXT,
    business_model TEXT NOT NULL,
    description TEXT NOT NULL,
    archive_xdrs BOOLEAN NOT NULL,
    invoices TEXT NOT NULL,
    taxation_method TEXT NOT NULL,
    revision BIGINT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX customer_classes_owner_name ON customer_classes (COALESCE(owner_reseller_id, 0), name_key);
CREATE INDEX customer_classes_name ON customer_classes (name_key, id);

-- What a class document points at, kept beside the document so "in use" checks are one indexed lookup.
CREATE TABLE class_references (
    class_id BIGINT NOT NULL REFERENCES customer_classes (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (class_id, kind, ref)
);
CREATE INDEX class_references_target ON class_references (kind, ref);

-- Kept for ever, also after the class is deleted.
CREATE TABLE class_revisions (
    class_id BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    owner_reseller_id BIGINT,
    author_type TEXT NOT NULL,
    author_user_id BIGINT,
    author_name TEXT NOT NULL,
    at BIGINT NOT NULL,
    change_note TEXT,
    snapshot TEXT NOT NULL,
    diff TEXT NOT NULL,
    PRIMARY KEY (class_id, revision)
);

-- Customers and resellers share one id space.
CREATE TABLE parties (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('customer', 'reseller')),
    owner_reseller_id BIGINT REFERENCES parties (id),
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    class_id BIGINT NOT NULL REFERENCES customer_classes (id),
    billing_period TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    activated_at BIGINT NOT NULL,
    prepaid BOOLEAN NOT NULL DEFAULT FALSE,
    country TEXT,
    email TEXT,
    phone TEXT,
    tax_id TEXT,
    tax_registered BOOLEAN NOT NULL DEFAULT FALSE,
    tax_exempt BOOLEAN NOT NULL DEFAULT FALSE,
    tax_exemption_reason TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    overrides TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX parties_class ON parties (class_id);
CREATE INDEX parties_owner ON parties (owner_reseller_id, kind, id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'reseller')),
    reseller_id BIGINT REFERENCES parties (id),
    personal_data_access BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Objects that classes point at (invoice templates, notification sets, custom taxes, custom-field definitions,
-- VAT rates), one kind per row: each is a JSON document with an owner and a per-owner unique key.
CREATE TABLE catalog_objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    owner_reseller_id BIGINT REFERENCES parties (id),
    name_key TEXT NOT NULL,
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX catalog_objects_key ON catalog_objects (kind, COALESCE(owner_reseller_id, 0), name_key);

CREATE TABLE secrets (
    owner_reseller_id BIGINT REFERENCES parties (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX secrets_owner_name ON secrets (COALESCE(owner_reseller_id, 0), name);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    user_id BIGINT,
    actor_name TEXT NOT NULL,
    owner_reseller_id BIGINT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_owner ON audit_log (owner_reseller_id, id);
