// The shared schema. Both migration folders must produce these tables and columns; a test checks it.

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    users (id) {
        id -> DbUuid,
        login -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    sessions (id) {
        id -> DbUuid,
        user_id -> DbUuid,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> DbUuid,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rate_buckets (name) {
        name -> Text,
        tokens -> Double,
        updated_at -> Timestamp,
        exhausted -> Bool,
    }
}

diesel::table! {
    login_throttle (key_hash) {
        key_hash -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    audit_log (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<DbUuid>,
        actor_role -> Nullable<Text>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        details -> Text,
        request_id -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    stations (id) {
        id -> DbUuid,
        name -> Text,
        city -> Nullable<Text>,
        country -> Text,
        address -> Nullable<Text>,
        operating_bureau -> Text,
        status -> Text,
        visibility -> Text,
        sources -> Text,
        first_reported_on -> Nullable<Date>,
        notes -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    reports (id) {
        id -> DbUuid,
        reference -> Text,
        kind -> Text,
        occurred_on -> Nullable<Date>,
        occurred_on_precision -> Nullable<Text>,
        country -> Text,
        city -> Nullable<Text>,
        language -> Nullable<Text>,
        station_id -> Nullable<DbUuid>,
        consent_contact_ok -> Bool,
        consent_share_with_authorities -> Bool,
        on_behalf_of_other -> Bool,
        source -> Text,
        reporter_id -> Nullable<DbUuid>,
        submitted_by -> Nullable<DbUuid>,
        receipt_hash -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        narrative -> Text,
        contact -> Nullable<Text>,
        location_detail -> Nullable<Text>,
        station_hint -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        priority_rank -> Integer,
        resolution -> Nullable<Text>,
        duplicate_of -> Nullable<DbUuid>,
        assignee_id -> Nullable<DbUuid>,
        case_id -> Nullable<DbUuid>,
        owner_tag -> Nullable<Text>,
        status_changed_at -> Timestamp,
        shredded_at -> Nullable<Timestamp>,
        legal_hold_at -> Nullable<Timestamp>,
        erase_requested_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    report_keys (report_id) {
        report_id -> DbUuid,
        key_id -> Text,
        wrapped -> Text,
        master_key_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    report_tactics (report_id, tactic) {
        report_id -> DbUuid,
        tactic -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    report_messages (id) {
        id -> DbUuid,
        report_id -> DbUuid,
        author_role -> Text,
        author_id -> Nullable<DbUuid>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    report_tags (report_id, tag) {
        report_id -> DbUuid,
        tag -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    report_notes (id) {
        id -> DbUuid,
        report_id -> DbUuid,
        author_id -> DbUuid,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    cases (id) {
        id -> DbUuid,
        reference -> Text,
        title -> Text,
        summary -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        assignee_id -> Nullable<DbUuid>,
        created_by -> Nullable<DbUuid>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        legal_hold_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    case_stations (case_id, station_id) {
        case_id -> DbUuid,
        station_id -> DbUuid,
        relation -> Text,
        confidence -> Text,
        note -> Nullable<Text>,
        created_by -> Nullable<DbUuid>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    data_keys (owner_table, owner_id) {
        owner_table -> Text,
        owner_id -> DbUuid,
        key_id -> Text,
        wrapped -> Text,
        master_key_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    user_totp (user_id) {
        user_id -> DbUuid,
        secret_sealed -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> BigInt,
        created_at -> Timestamp,
        master_key_id -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> DbUuid,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    device_tokens (token_hash) {
        token_hash -> Text,
        user_id -> DbUuid,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(user_totp -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(device_tokens -> users (user_id));
diesel::joinable!(report_tags -> reports (report_id));
diesel::joinable!(report_keys -> reports (report_id));
diesel::joinable!(report_notes -> reports (report_id));
diesel::joinable!(case_stations -> cases (case_id));
diesel::joinable!(case_stations -> stations (station_id));
diesel::joinable!(reports -> stations (station_id));
diesel::joinable!(report_tactics -> reports (report_id));
diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    attachments (id) {
        id -> DbUuid,
        report_id -> DbUuid,
        filename_sealed -> Nullable<Text>,
        sha256_sealed -> Text,
        size -> BigInt,
        media_type -> Text,
        original_blob -> Text,
        clean_blob -> Nullable<Text>,
        clean_size -> Nullable<BigInt>,
        uploaded_by_role -> Text,
        uploaded_by -> Nullable<DbUuid>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(attachments -> reports (report_id));
diesel::joinable!(report_messages -> reports (report_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbUuid;

    audit_pending (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<DbUuid>,
        actor_role -> Nullable<Text>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        details -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_tree (level, idx) {
        level -> SmallInt,
        idx -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    key_fingerprints (purpose) {
        purpose -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    login_throttle,
    rate_buckets,
    audit_log,
    audit_pending,
    audit_tree,
    stations,
    reports,
    report_keys,
    report_tactics,
    report_messages,
    attachments,
    report_tags,
    report_notes,
    cases,
    case_stations,
    data_keys,
    user_totp,
    recovery_codes,
    device_tokens,
    key_fingerprints,
);
