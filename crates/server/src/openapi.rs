//! The OpenAPI 3.1 document of `/api/v1`: generated from the handlers' annotations, then corrected as a
//! whole so that it says exactly what the server does.

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::problem::Problem;
use crate::{AppState, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "Classbill", description = "Billing core for telecom, VoIP and Internet operators and their resellers."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and the OpenAPI document describing exactly them.
pub(crate) fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::classes::router())
        .merge(routes::members::router())
        .merge(routes::parties::router())
        .merge(routes::effective::router())
        .merge(routes::catalog::router())
        .merge(routes::admin::router())
        .merge(routes::installation::router())
        .merge(routes::ledger::router())
        .merge(routes::billing::router())
        .merge(routes::credit_notes::router())
        .merge(routes::collections::router())
        .merge(routes::retention::router())
        .merge(routes::purges::router())
        .merge(routes::documents::router())
        .merge(routes::measurements::router())
        .merge(routes::payments::router())
        .merge(routes::oot::router())
        .merge(routes::notifications::router())
        .merge(routes::reports::router())
        .merge(routes::users::router())
        .split_for_parts()
}

/// The OpenAPI 3.1 document of `/api/v1`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{Content, HttpMethod, ObjectBuilder, Response, path};
    let (_, mut openapi) = api();
    openapi.paths.paths.insert(
        "/openapi.json".to_owned(),
        path::PathItem::new(
            HttpMethod::Get,
            path::OperationBuilder::new()
                .summary(Some("This document"))
                .operation_id(Some("openapi_document"))
                .tag("meta")
                .security(utoipa::openapi::security::SecurityRequirement::default())
                .response(
                    "200",
                    utoipa::openapi::ResponseBuilder::from(Response::new("the OpenAPI document"))
                        .content("application/json", Content::new(Some(ObjectBuilder::new().build()))),
                ),
        ),
    );
    document::finish(&mut openapi);
    openapi
}

/// Corrections applied to the generated document as a whole, so that it says what the server does.
mod document {
    use std::collections::BTreeMap;

    use utoipa::openapi::path::{Operation, PathItem};
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema};
    use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

    const PROBLEM: &str = "application/problem+json";

    pub fn finish(openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                errors_as_problems(operation);
                if operation.security.is_none() {
                    operation
                        .responses
                        .responses
                        .entry("401".to_owned())
                        .or_insert_with(|| RefOr::T(problem_response("no token, or one that is unknown or revoked")));
                }
            }
        }
        unique_operation_ids(openapi);
        open_all_of_members(openapi);
    }

    fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    }

    fn problem_response(description: &str) -> Response {
        ResponseBuilder::new()
            .description(description)
            .content(PROBLEM, Content::new(Some(Ref::from_schema_name("Problem"))))
            .build()
    }

    /// Error answers leave the server as `application/problem+json`; the handlers' annotations say JSON.
    fn errors_as_problems(operation: &mut Operation) {
        for (status, response) in &mut operation.responses.responses {
            let RefOr::T(response) = response else { continue };
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert(PROBLEM.to_owned(), content);
            }
        }
    }

    /// Handlers generated once per catalog kind share their function names; an operation id must be unique,
    /// so colliding ids take the operation's tag as a suffix (`list` → `list_vat_rates`).
    fn unique_operation_ids(openapi: &mut OpenApi) {
        let mut uses: BTreeMap<String, usize> = BTreeMap::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                if let Some(id) = &operation.operation_id {
                    *uses.entry(id.clone()).or_default() += 1;
                }
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let Some(id) = &operation.operation_id else { continue };
                if uses.get(id).copied().unwrap_or(0) < 2 {
                    continue;
                }
                let Some(tag) = operation.tags.as_ref().and_then(|tags| tags.first()) else {
                    continue;
                };
                let suffix: String = tag
                    .to_lowercase()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                operation.operation_id = Some(format!("{id}_{suffix}"));
            }
        }
    }

    /// A document type that refuses unknown keys is a closed object (`additionalProperties: false`); where a
    /// response extends it with `allOf` (the stored object adds `id`, `owner`, …), the closed member would reject
    /// the very fields its siblings add, and no answer could match. Inside `allOf` such members are opened:
    /// inline objects lose the flag, references to closed components are replaced by an open copy.
    fn open_all_of_members(openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let open_copies: BTreeMap<String, Schema> = components
            .schemas
            .iter()
            .filter_map(|(name, schema)| match schema {
                RefOr::T(Schema::Object(object)) if is_closed(&object.additional_properties) => {
                    let mut open = object.clone();
                    open.additional_properties = None;
                    Some((format!("#/components/schemas/{name}"), Schema::Object(open)))
                }
                _ => None,
            })
            .collect();
        for schema in components.schemas.values_mut() {
            open_within(schema, &open_copies);
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let bodies = operation
                    .request_body
                    .iter_mut()
                    .flat_map(|body| body.content.values_mut());
                let answers = operation
                    .responses
                    .responses
                    .values_mut()
                    .flat_map(|response| match response {
                        RefOr::T(response) => Some(response.content.values_mut()),
                        RefOr::Ref(_) => None,
                    });
                for content in bodies.chain(answers.flatten()) {
                    if let Some(schema) = content.schema.as_mut() {
                        open_within(schema, &open_copies);
                    }
                }
            }
        }
    }

    fn is_closed(additional: &Option<Box<AdditionalProperties<Schema>>>) -> bool {
        matches!(additional.as_deref(), Some(AdditionalProperties::FreeForm(false)))
    }

    fn open_within(schema: &mut RefOr<Schema>, open_copies: &BTreeMap<String, Schema>) {
        let RefOr::T(schema) = schema else { return };
        match schema {
            Schema::AllOf(all_of) => {
                for member in &mut all_of.items {
                    match member {
                        RefOr::Ref(reference) => {
                            if let Some(open) = open_copies.get(&reference.ref_location) {
                                *member = RefOr::T(open.clone());
                            }
                        }
                        RefOr::T(Schema::Object(object)) if is_closed(&object.additional_properties) => {
                            object.additional_properties = None;
                        }
                        RefOr::T(_) => {}
                    }
                    open_within(member, open_copies);
                }
            }
            Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(|m| open_within(m, open_copies)),
            Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(|m| open_within(m, open_copies)),
            Schema::Object(object) => {
                for property in object.properties.values_mut() {
                    open_within(property, open_copies);
                }
                if let Some(AdditionalProperties::RefOr(values)) = object.additional_properties.as_deref_mut() {
                    open_within(values, open_copies);
                }
            }
            Schema::Array(array) => {
                if let ArrayItems::RefOrSchema(items) = &mut array.items {
                    open_within(items, open_copies);
                }
            }
            _ => {}
        }
    }
}
