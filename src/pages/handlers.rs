//! The reporter's pages: HTTP only. Every write goes through the API's own use cases
//! (`reports::handlers::intake`, `auth::handlers::exchange_receipt`, `reports::messages::add`),
//! so the pages have no rules of their own about what a report is.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;

use super::i18n::{has, text};
use super::rules::{self, Typed};
use super::Lang;
use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::db::{self, write_tx};
use crate::error::{AppError, FieldError};
use crate::http::body::Form;
use crate::http::RequestId;
use crate::reports::access::{load_for, Side};
use crate::reports::handlers::{intake, Submitter};
use crate::reports::view::{open, reporter_view};
use crate::reports::{messages, rules as report_rules, store, Tactic};
use crate::state::AppState;

/// SPEC §16: the pages load only from their own origin, post only to it and are never framed.
pub const CSP: &str = "default-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// How many messages of the thread the follow-up page shows (the newest are kept).
const MESSAGES_SHOWN: i64 = 500;

const STYLE: &str = include_str!("assets/style.css");

/// A language as the language menus show it.
pub struct LangLink {
    pub code: &'static str,
    pub dir: &'static str,
    pub name: String,
    pub choose: String,
    pub intro: String,
}

fn languages() -> Vec<LangLink> {
    Lang::ALL
        .into_iter()
        .map(|l| LangLink {
            code: l.code(),
            dir: l.dir(),
            name: text(l, "language-name"),
            choose: text(l, "choose-language"),
            intro: text(l, "index-intro"),
        })
        .collect()
}

/// What every page around its content shows: language, menus, the organisation.
pub struct Chrome {
    pub lang: Lang,
    pub here: &'static str,
    pub org_name: Option<String>,
    pub org_contact: Option<String>,
    pub languages: Vec<LangLink>,
}

impl Chrome {
    fn new(state: &AppState, lang: Lang, here: &'static str) -> Self {
        Chrome {
            lang,
            here,
            org_name: state.organisation.name.clone(),
            org_contact: state.organisation.contact.clone(),
            languages: languages(),
        }
    }

    pub fn t(&self, id: &str) -> String {
        text(self.lang, id)
    }
}

#[derive(Template)]
#[template(path = "pages/index.html")]
struct IndexPage {
    org_name: Option<String>,
    languages: Vec<LangLink>,
}

#[derive(Template)]
#[template(path = "pages/about.html")]
struct AboutPage {
    c: Chrome,
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage {
    c: Chrome,
    title: String,
    text: String,
}

pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub help: String,
    pub checked: bool,
}

pub struct Group {
    pub label: String,
    pub help: String,
    pub error: Option<String>,
    pub options: Vec<Choice>,
}

pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub help: Option<String>,
    pub error: Option<String>,
    pub value: String,
    pub control: &'static str,
    pub required: bool,
    pub rows: u8,
    pub max: usize,
    pub options: Vec<Choice>,
    pub described_by: String,
}

pub struct SummaryItem {
    pub anchor: String,
    pub label: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "pages/report.html")]
struct ReportPage {
    c: Chrome,
    token: String,
    expired: bool,
    errors: Vec<SummaryItem>,
    kind: Group,
    tactics: Group,
    fields: Vec<Field>,
    consent_error: Option<String>,
    typed: Typed,
}

#[derive(Template)]
#[template(path = "pages/receipt.html")]
struct ReceiptPage {
    c: Chrome,
    reference: String,
    receipt: String,
}

#[derive(Template)]
#[template(path = "pages/follow_up.html")]
struct FollowUpPage {
    c: Chrome,
    token: String,
    problem: Option<String>,
}

pub struct ShownMessage {
    pub author: String,
    pub author_label: String,
    pub at: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "pages/report_view.html")]
struct ReportViewPage {
    c: Chrome,
    token: String,
    receipt: String,
    reference: String,
    status: String,
    created: String,
    narrative: String,
    messages: Vec<ShownMessage>,
    sent: bool,
    reply: String,
    reply_error: Option<String>,
}

/// Renders a page with the pages' own security policy (the envelope adds the rest of §9's headers).
fn page(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(|_| AppError::internal("page rendering failed"))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .body(body))
}

fn not_found(state: &AppState) -> Result<HttpResponse, AppError> {
    let c = Chrome::new(state, Lang::En, "report");
    let title = c.t("not-found-title");
    page(StatusCode::NOT_FOUND, &MessagePage { c, title, text: String::new() })
}

fn token(state: &AppState) -> String {
    rules::sign_token(&state.form_key, chrono::Utc::now().timestamp())
}

/// The `Host`, `Origin` and `Sec-Fetch-Site` of a post, judged.
fn cross_site(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    rules::is_cross_site(header("sec-fetch-site"), header("origin"), header("host"))
}

fn refused(state: &AppState, lang: Lang) -> Result<HttpResponse, AppError> {
    let c = Chrome::new(state, lang, "report");
    let (title, text) = (c.t("refused-title"), c.t("refused-text"));
    page(StatusCode::FORBIDDEN, &MessagePage { c, title, text })
}

/// Forms post `application/x-www-form-urlencoded`; anything else is 415.
fn require_form(req: &HttpRequest) -> Result<(), AppError> {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/x-www-form-urlencoded") => Ok(()),
        _ => Err(AppError::UnsupportedMediaType),
    }
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// `GET /`: the language choice, every language in its own words.
pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    page(StatusCode::OK, &IndexPage { org_name: state.organisation.name.clone(), languages: languages() })
}

/// `GET /assets/style.css`.
pub async fn style() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(STYLE)
}

/// `GET /{lang}/about`.
pub async fn about(state: web::Data<AppState>, lang: web::Path<String>) -> Result<HttpResponse, AppError> {
    let Some(lang) = Lang::parse(&lang) else { return not_found(&state) };
    page(StatusCode::OK, &AboutPage { c: Chrome::new(&state, lang, "about") })
}

/// `GET /{lang}/report`: the empty form.
pub async fn report_form(state: web::Data<AppState>, lang: web::Path<String>) -> Result<HttpResponse, AppError> {
    let Some(lang) = Lang::parse(&lang) else { return not_found(&state) };
    page(StatusCode::OK, &report_page(&state, lang, &Typed::default(), &[], false))
}

/// `POST /{lang}/report`: the answer to a valid post is the receipt page itself; to an invalid
/// one, the form again with every typed value and each error beside its field.
pub async fn report_submit(
    state: web::Data<AppState>,
    lang: web::Path<String>,
    req: HttpRequest,
    rid: RequestId,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let Some(lang) = Lang::parse(&lang) else { return not_found(&state) };
    if cross_site(&req) {
        return refused(&state, lang);
    }
    require_form(&req)?;
    let (json, typed, token) = rules::report_body(form_pairs(&body));
    let now = chrono::Utc::now().timestamp();
    if !token.is_some_and(|t| rules::token_is_good(&state.form_key, &t, now)) {
        return page(StatusCode::FORBIDDEN, &report_page(&state, lang, &typed, &[], true));
    }
    let form = Form::new(json)?;
    match intake(&state, &Caller::Anonymous, Submitter::anonymous(), &rid, form).await {
        Ok(created) => page(
            StatusCode::OK,
            &ReceiptPage {
                c: Chrome::new(&state, lang, "report"),
                reference: created.reference,
                receipt: created.receipt.unwrap_or_default(),
            },
        ),
        Err(AppError::Validation(errors)) => {
            page(StatusCode::UNPROCESSABLE_ENTITY, &report_page(&state, lang, &typed, &errors, false))
        }
        Err(AppError::TooManyRequests { retry_after_secs }) => too_many(&state, lang, "report", retry_after_secs),
        Err(other) => Err(other),
    }
}

fn too_many(state: &AppState, lang: Lang, here: &'static str, retry_after_secs: u64) -> Result<HttpResponse, AppError> {
    let c = Chrome::new(state, lang, here);
    let (title, text) = (c.t("too-many"), String::new());
    let mut response = page(StatusCode::TOO_MANY_REQUESTS, &MessagePage { c, title, text })?;
    if let Ok(value) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Ok(response)
}

/// The message id of an intake error's explanation, in the page's words rather than the API's.
fn error_text(lang: Lang, field: &str) -> String {
    let id = match field {
        f if f.starts_with("consent") => "error-consent".to_string(),
        f => format!("error-{f}"),
    };
    if has(Lang::En, &id) {
        text(lang, &id)
    } else {
        text(lang, "error-generic")
    }
}

fn report_page(state: &AppState, lang: Lang, typed: &Typed, errors: &[FieldError], expired: bool) -> ReportPage {
    let c = Chrome::new(state, lang, "report");
    let error_of = |name: &str| {
        errors
            .iter()
            .find(|e| {
                let field = rules::field_of(&e.field);
                field == name || (name == "consent" && field.starts_with("consent"))
            })
            .map(|_| error_text(lang, name))
    };
    let mut summary = Vec::new();
    for e in errors {
        let field = rules::field_of(&e.field);
        let (anchor, label_id) = match field {
            "kind" | "tactics" => (format!("f-{field}"), format!("field-{field}")),
            f if f.starts_with("consent") => ("f-consent".to_string(), "field-consent".to_string()),
            "" => ("main".to_string(), "errors-title".to_string()),
            f if has(Lang::En, &format!("field-{f}")) => (format!("f-{f}"), format!("field-{f}")),
            _ => ("main".to_string(), "errors-title".to_string()),
        };
        let item = SummaryItem { anchor, label: c.t(&label_id), message: error_text(lang, field) };
        if !summary.iter().any(|s: &SummaryItem| s.anchor == item.anchor) {
            summary.push(item);
        }
    }
    let kind = Group {
        label: c.t("field-kind"),
        help: String::new(),
        error: error_of("kind"),
        options: ["incident", "station"]
            .into_iter()
            .map(|k| Choice {
                value: k,
                label: c.t(&format!("kind-{k}")),
                help: String::new(),
                checked: typed.kind == k,
            })
            .collect(),
    };
    let tactics = Group {
        label: c.t("field-tactics"),
        help: c.t("field-tactics-help"),
        error: error_of("tactics"),
        options: Tactic::ALL
            .iter()
            .map(|t| {
                let code = t.as_str();
                Choice {
                    value: code,
                    label: c.t(&format!("tactic-{code}")),
                    help: c.t(&format!("tactic-{code}-help")),
                    checked: typed.tactics.iter().any(|x| x == code),
                }
            })
            .collect(),
    };
    let field = |name: &'static str, value: &str, control: &'static str, required: bool, max: usize| {
        let help_id = format!("field-{name}-help");
        let help = has(Lang::En, &help_id).then(|| c.t(&help_id));
        let error = error_of(name);
        let mut described_by = Vec::new();
        if help.is_some() {
            described_by.push(format!("h-{name}"));
        }
        if error.is_some() {
            described_by.push(format!("e-{name}"));
        }
        Field {
            name,
            label: c.t(&format!("field-{name}")),
            help,
            error,
            value: value.to_string(),
            control,
            required,
            rows: if name == "narrative" { 12 } else { 3 },
            max,
            options: Vec::new(),
            described_by: described_by.join(" "),
        }
    };
    let mut precision = field("occurred_on_precision", "", "select", false, 0);
    precision.options = ["", "day", "month", "year"]
        .into_iter()
        .map(|p| {
            let id = if p.is_empty() { "precision-none".to_string() } else { format!("precision-{p}") };
            Choice { value: p, label: c.t(&id), help: String::new(), checked: typed.occurred_on_precision == p }
        })
        .collect();
    let fields = vec![
        field("narrative", &typed.narrative, "textarea", true, report_rules::NARRATIVE_MAX),
        field("occurred_on", &typed.occurred_on, "date", false, 10),
        precision,
        field("country", &typed.country, "text", true, 2),
        field("city", &typed.city, "text", false, crate::fields::CITY_MAX),
        field("location_detail", &typed.location_detail, "textarea", false, report_rules::LOCATION_DETAIL_MAX),
        field("station_id", &typed.station_id, "text", false, 36),
        field("station_hint", &typed.station_hint, "textarea", false, report_rules::STATION_HINT_MAX),
        field("contact", &typed.contact, "textarea", false, report_rules::CONTACT_MAX),
        field("language", &typed.language, "text", false, 35),
    ];
    ReportPage {
        token: token(state),
        expired,
        errors: summary,
        kind,
        tactics,
        fields,
        consent_error: error_of("consent"),
        typed: typed.clone(),
        c,
    }
}

/// `GET /{lang}/follow-up`: the receipt form.
pub async fn follow_up_form(state: web::Data<AppState>, lang: web::Path<String>) -> Result<HttpResponse, AppError> {
    let Some(lang) = Lang::parse(&lang) else { return not_found(&state) };
    page(
        StatusCode::OK,
        &FollowUpPage { c: Chrome::new(&state, lang, "follow-up"), token: token(&state), problem: None },
    )
}

/// `POST /{lang}/follow-up`: a receipt (and, from the reply form, a message) → the report's
/// status and messages with a reply form. The receipt goes through the API's own exchange
/// (throttled and audited) on every post; the reply form carries it back in a hidden field of
/// the page body, never in a URL or a cookie.
pub async fn follow_up(
    state: web::Data<AppState>,
    lang: web::Path<String>,
    req: HttpRequest,
    rid: RequestId,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let Some(lang) = Lang::parse(&lang) else { return not_found(&state) };
    if cross_site(&req) {
        return refused(&state, lang);
    }
    require_form(&req)?;
    let mut receipt = zeroize::Zeroizing::new(String::new());
    let mut reply: Option<String> = None;
    let mut token = None;
    for (name, value) in form_pairs(&body) {
        match name.as_str() {
            "receipt" => *receipt = value,
            "body" => reply = Some(value.replace("\r\n", "\n")),
            rules::TOKEN_FIELD => token = Some(value),
            _ => {}
        }
    }
    let c = Chrome::new(&state, lang, "follow-up");
    let now = chrono::Utc::now().timestamp();
    if !token.is_some_and(|t| rules::token_is_good(&state.form_key, &t, now)) {
        let problem = Some(c.t("form-expired"));
        return page(StatusCode::FORBIDDEN, &FollowUpPage { c, token: self::token(&state), problem });
    }
    let report_id = match crate::auth::handlers::exchange_receipt(&state, &rid, &receipt).await {
        Ok(exchanged) => exchanged.report_id,
        Err(AppError::Unauthorized) => {
            let problem = Some(c.t("receipt-wrong"));
            return page(StatusCode::UNAUTHORIZED, &FollowUpPage { c, token: self::token(&state), problem });
        }
        Err(AppError::TooManyRequests { retry_after_secs }) => {
            return too_many(&state, lang, "follow-up", retry_after_secs)
        }
        Err(other) => return Err(other),
    };
    let caller = Caller::Receipt { report_id };
    let mut reply_error = None;
    let mut sent = false;
    if let Some(text) = reply.clone() {
        match messages::read_message(Form::new(json!({ "body": text }))?) {
            Ok(text) => {
                messages::add(&state, caller.clone(), Side::Reporter, rid.clone(), report_id, text).await?;
                sent = true;
            }
            Err(AppError::Validation(_)) => reply_error = Some(c.t("error-body")),
            Err(other) => return Err(other),
        }
    }
    let state2 = state.clone();
    let rid2 = rid.clone();
    let (view, shown) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, report_id)?;
            let view = reporter_view(&key, &report, store::tactics(conn, report.id)?)?;
            let mut rows = store::messages(conn, report.id, None, MESSAGES_SHOWN)?;
            rows.truncate(MESSAGES_SHOWN as usize);
            let shown = rows
                .into_iter()
                .map(|row| {
                    Ok((row.author_role, row.created_at, open(&key, "report_messages", "body", row.id, &row.body)?))
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            audit::record(
                conn,
                caller
                    .audit(&rid2, Action::ReportRead)
                    .target("report", report.id)
                    .details(json!({"side": "reporter"})),
            )?;
            audit::record(
                conn,
                caller
                    .audit(&rid2, Action::MessageRead)
                    .target("report", report.id)
                    .details(json!({"messages": shown.len()})),
            )?;
            Ok::<_, AppError>((view, shown))
        })
    })
    .await?;
    let when = |at: chrono::NaiveDateTime| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let messages = shown
        .into_iter()
        .map(|(author, at, body)| ShownMessage {
            author_label: c.t(&format!("author-{author}")),
            author,
            at: when(at),
            body,
        })
        .collect();
    let status = if reply_error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    page(
        status,
        &ReportViewPage {
            token: self::token(&state),
            receipt: receipt.to_string(),
            reference: view.reference,
            status: c.t(&format!("status-{}", view.status.as_str())),
            created: when(view.created_at),
            narrative: view.narrative,
            messages,
            sent,
            reply: if sent { String::new() } else { reply.unwrap_or_default() },
            reply_error,
            c,
        },
    )
}
