//! Every route of the API, registered in one place. The same table serves the application and
//! the test that compares it with `api-spec/openapi.yaml`, so the two cannot drift apart.

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder, Route};

use crate::error::AppError;
use crate::{attachments, audit, auth, cases, health, pages, reports, retention, stations, triage, users};

/// Registers the routes of the API.
fn register(r: &mut Router) {
    r.get("/healthz", health::healthz);
    r.get("/readyz", health::readyz);

    r.post("/api/v1/auth/register", auth::handlers::register);
    r.post("/api/v1/auth/login", auth::handlers::login);
    r.post("/api/v1/auth/refresh", auth::handlers::refresh);
    r.post("/api/v1/auth/logout", auth::handlers::logout);
    r.post("/api/v1/auth/receipt", auth::handlers::receipt);
    r.get("/api/v1/me", users::handlers::me);
    r.post("/api/v1/me/totp", auth::handlers::totp_enrol);
    r.delete("/api/v1/me/totp", auth::handlers::totp_remove);
    r.post("/api/v1/me/totp/confirm", auth::handlers::totp_confirm);

    r.get("/api/v1/users", users::handlers::list);
    r.post("/api/v1/users", users::handlers::create);
    r.get("/api/v1/users/{id}", users::handlers::get);
    r.patch("/api/v1/users/{id}", users::handlers::update);
    r.post("/api/v1/users/{id}/sessions/revoke", users::handlers::revoke_sessions);
    r.post("/api/v1/users/{id}/unlock", users::handlers::unlock);
    r.post("/api/v1/users/{id}/totp/reset", users::handlers::totp_reset);

    r.post("/api/v1/reports", reports::handlers::submit);
    r.get("/api/v1/reports", triage::handlers::queue);
    r.get("/api/v1/reports/mine", reports::handlers::mine);
    r.get("/api/v1/reports/{id}", reports::handlers::get);
    r.patch("/api/v1/reports/{id}", triage::handlers::update);
    r.get("/api/v1/reports/{id}/notes", reports::notes::list);
    r.post("/api/v1/reports/{id}/notes", reports::notes::create);
    r.get("/api/v1/reports/{id}/messages", reports::messages::list);
    r.post("/api/v1/reports/{id}/messages", reports::messages::create);
    r.get("/api/v1/reports/{id}/attachments", attachments::handlers::list);
    r.post("/api/v1/reports/{id}/attachments", attachments::handlers::upload);
    r.get("/api/v1/reports/{id}/attachments/{aid}", attachments::handlers::download);
    r.get("/api/v1/reports/{id}/attachments/{aid}/original", attachments::handlers::original);
    r.post("/api/v1/reports/{id}/withdraw", retention::handlers::withdraw);
    r.post("/api/v1/reports/{id}/receipt", retention::handlers::replace_receipt);
    r.delete("/api/v1/reports/{id}/receipt", retention::handlers::revoke_receipt);
    r.post("/api/v1/reports/{id}/legal-hold", retention::handlers::hold_report);
    r.delete("/api/v1/reports/{id}/legal-hold", retention::handlers::lift_report_hold);

    r.post("/api/v1/cases", cases::handlers::create);
    r.get("/api/v1/cases", cases::handlers::list);
    r.get("/api/v1/cases/{id}", cases::handlers::get);
    r.patch("/api/v1/cases/{id}", cases::handlers::update);
    r.post("/api/v1/cases/{id}/reports", cases::handlers::add_report);
    r.delete("/api/v1/cases/{id}/reports/{report_id}", cases::handlers::remove_report);
    r.post("/api/v1/cases/{id}/stations", cases::handlers::link_station);
    r.delete("/api/v1/cases/{id}/stations/{station_id}", cases::handlers::unlink_station);
    r.post("/api/v1/cases/{id}/legal-hold", retention::handlers::hold_case);
    r.delete("/api/v1/cases/{id}/legal-hold", retention::handlers::lift_case_hold);

    r.get("/api/v1/stations", stations::handlers::list);
    r.post("/api/v1/stations", stations::handlers::create);
    r.get("/api/v1/stations/{id}", stations::handlers::get);
    r.patch("/api/v1/stations/{id}", stations::handlers::update);

    r.get("/api/v1/audit", audit::handlers::list);
    r.get("/api/v1/audit/verify", audit::handlers::verify);
    r.get("/api/v1/audit/checkpoint", audit::handlers::checkpoint);
    r.get("/api/v1/audit/public-key", audit::handlers::public_key);
    r.get("/api/v1/audit/entries/{seq}/proof", audit::handlers::inclusion_proof);
    r.get("/api/v1/audit/consistency", audit::handlers::consistency_proof);

    // SPEC §16: the reporter's website.
    r.get("/", pages::handlers::index);
    r.get("/assets/style.css", pages::handlers::style);
    r.get("/{lang}/report", pages::handlers::report_form);
    r.post("/{lang}/report", pages::handlers::report_submit);
    r.get("/{lang}/follow-up", pages::handlers::follow_up_form);
    r.post("/{lang}/follow-up", pages::handlers::follow_up);
    r.get("/{lang}/about", pages::handlers::about);
}

#[derive(Default)]
pub struct Router {
    routes: Vec<(Method, &'static str, Route)>,
}

impl Router {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().method(method.clone()).to(handler);
        self.routes.push((method, path, route));
    }

    fn get<F, Args>(&mut self, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, handler)
    }

    fn post<F, Args>(&mut self, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler)
    }

    fn patch<F, Args>(&mut self, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, path, handler)
    }

    fn delete<F, Args>(&mut self, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, handler)
    }
}

/// `(method, path)` of every route, in registration order.
pub fn table() -> Vec<(Method, &'static str)> {
    let mut router = Router::default();
    register(&mut router);
    router.routes.into_iter().map(|(method, path, _)| (method, path)).collect()
}

/// Adds every route to the app: one resource per path, answering 405 (with `Allow`) for a
/// method it does not have.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut router = Router::default();
    register(&mut router);
    let mut paths: Vec<&'static str> = Vec::new();
    for (_, path, _) in &router.routes {
        if !paths.contains(path) {
            paths.push(path);
        }
    }
    let mut routes = router.routes;
    for path in paths {
        let (mine, rest): (Vec<_>, Vec<_>) = routes.into_iter().partition(|(_, p, _)| *p == path);
        routes = rest;
        let allow = mine.iter().map(|(m, _, _)| m.as_str()).collect::<Vec<_>>().join(", ");
        let mut resource = web::resource(path);
        for (_, _, route) in mine {
            resource = resource.route(route);
        }
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<actix_web::HttpResponse, _>(AppError::MethodNotAllowed(allow)) }
        }));
        cfg.service(resource);
    }
}
