//! Integration tests through HTTP, on SQLite and on PostgreSQL (TIPLINE_TEST_DATABASE_URL; see
//! `common::pg_base_url` for the explicit skip).
//! One test binary, so the crate is linked once.

mod common;
mod fixtures;

mod accounts;
mod anonymity;
mod attachments;
mod audit;
mod auth;
mod cases;
mod cleaning;
mod contract;
mod crash;
mod group_commit;
mod http;
mod keys;
mod leaks;
mod limits;
mod matrix;
mod outage;
mod pages;
mod process;
mod races;
mod reports;
mod retention;
mod second_factor;
mod spec;
mod stations;
mod storage;
mod triage;
mod upload_crash;
