//! Tipline: reporting and case management for people targeted by transnational repression.
//!
//! `docs/ARCHITECTURE.md` maps the modules; `api-spec/openapi.yaml` is the HTTP contract.

#![forbid(unsafe_code)]

pub mod attachments;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod cases;
pub mod cli;
pub mod codes;
pub mod config;
pub mod crypto;
pub mod data_keys;
pub mod db;
pub mod error;
pub mod fields;
pub mod health;
pub mod http;
pub mod keys;
pub mod limits;
pub mod pages;
pub mod reports;
pub mod retention;
pub mod routes;
pub mod state;
pub mod stations;
pub mod terms;
pub mod time;
pub mod triage;
pub mod upgrade;
pub mod users;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App, HttpResponse, HttpServer};

use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;

/// The application: routes, limits, error handling and the request envelope.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(http::body::payload_config())
        .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|_, _| AppError::BadRequest("The query string is malformed.").into()),
        )
        .configure(routes::configure)
        .default_service(web::to(|| async { Err::<HttpResponse, _>(AppError::NotFound) }))
        .wrap(middleware::from_fn(http::envelope))
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("DATABASE_URL: cannot connect to the database: {0}")]
    Connect(String),
    #[error("DATABASE_URL: migrations failed: {0}")]
    Migrate(String),
    #[error("TIPLINE_BIND: {0}")]
    Bind(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    IndexKey(#[from] keys::index::IndexKeyError),
    #[error(
        "TIPLINE_KEYRING: the database holds keys wrapped under master key {0}, which the keyring {1} lacks; start with this database's keyring (see `tipline keys status`)"
    )]
    MissingKey(String, String),
}

/// Connects (reporting the driver's own error), applies pending migrations and builds the pool.
pub fn open_database(config: &Config) -> Result<db::Pool, StartupError> {
    let mut conn = db::connect(&config.database_url).map_err(|e| StartupError::Connect(e.to_string()))?;
    let applied = db::migrate(&mut conn).map_err(|e| StartupError::Migrate(e.to_string()))?;
    if applied > 0 {
        tracing::info!(applied, "migrations applied");
    }
    keys::index::check(&mut conn, config.index_key.expose())?;
    let upgraded = upgrade::run(&mut conn, config).map_err(|e| StartupError::Migrate(e.to_string()))?;
    if upgraded > 0 {
        tracing::info!(upgraded, "stored data upgraded");
        // What was replaced must not linger in the WAL: fold it into the file (whose freed
        // space `secure_delete` zeroes) and empty it.
        if let db::DbConn::Sqlite(_) = &conn {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)").map_err(|e| StartupError::Migrate(e.to_string()))?;
        }
    }
    Ok(db::pool(&config.database_url, config.db_pool_size))
}

/// Serves until SIGTERM or SIGINT; in-flight requests finish first (actix's graceful shutdown).
pub async fn serve(config: Config) -> Result<(), StartupError> {
    let pool = open_database(&config)?;
    // A keyring that lacks a key the data names (a wrong TIPLINE_KEYRING, a keyring generated
    // afresh beside an existing database) would answer those reports with 500s while wrapping new
    // ones under a key the right keyring lacks: refuse to start instead.
    {
        let mut conn = pool.get().map_err(|e| StartupError::Connect(e.to_string()))?;
        let missing = keys::rotation::missing_key(&mut conn, &config.keyring)
            .map_err(|e| StartupError::Connect(e.to_string()))?;
        if let Some(id) = missing {
            return Err(StartupError::MissingKey(id, config.keyring_file.path.display().to_string()));
        }
    }
    let sequencer = audit::sequencer::spawn(pool.clone())?;
    let sweeper =
        retention::sweeper::spawn(pool.clone(), config.blobs.clone(), config.retention, config.retention_interval)?;
    let state = web::Data::new(AppState::new(&config, pool.clone()));
    let blob_sweeper = attachments::orphans::spawn(pool.clone(), state.blobs.clone())?;
    actix_web::rt::spawn(limits::sweep_forever(pool));
    let server = HttpServer::new(move || app(state.clone()))
        .shutdown_timeout(30)
        .bind(config.bind)
        .map_err(StartupError::Bind)?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}");
    }
    let served = server.run().await;
    sweeper.stop();
    sequencer.stop();
    blob_sweeper.stop();
    served?;
    tracing::info!("stopped");
    Ok(())
}
