use std::process::ExitCode;

use clap::Parser;
use tipline::cli::{self, AdminCommand, AuditCommand, Cli, Command, KeysCommand, RetentionCommand, StationsCommand};
use tipline::config::Config;

fn init_logging() -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) => EnvFilter::try_new(&value).map_err(|_| "RUST_LOG: not a valid log filter".to_string())?,
        Err(_) => EnvFilter::new("info"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    if let Err(message) = init_logging() {
        eprintln!("tipline: {message}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("tipline: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new().block_on(tipline::serve(config)).map_err(cli::CliError::from),
        Command::Migrate => cli::migrate(&config),
        Command::Admin { command: AdminCommand::Create { email, password_stdin, display_name } } => {
            cli::admin_create(&config, &email, password_stdin, &display_name)
        }
        Command::Admin { command: AdminCommand::Unlock { email } } => cli::admin_unlock(&config, &email),
        Command::Stations { command: StationsCommand::Import { file } } => cli::stations_import(&config, &file),
        Command::Retention { command: RetentionCommand::Sweep } => cli::retention_sweep(&config),
        Command::Audit { command: AuditCommand::Checkpoint } => cli::audit_checkpoint(&config),
        Command::Audit { command: AuditCommand::PublicKey } => {
            cli::audit_public_key(&config);
            Ok(())
        }
        Command::Keys { command: KeysCommand::Rotate { batch, pause_ms } } => {
            match cli::keys_rotate(&config, batch, pause_ms) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(err) => Err(err),
            }
        }
        Command::Keys { command: KeysCommand::Retire { id } } => cli::keys_retire(&config, &id),
        Command::Keys { command: KeysCommand::Status } => match cli::keys_status(&config) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(err) => Err(err),
        },
        Command::Audit { command: AuditCommand::Verify { checkpoint } } => {
            match cli::audit_verify(&config, checkpoint.as_deref()) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(err) => Err(err),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tipline: {err}");
            ExitCode::from(2)
        }
    }
}
