//! `/invoice-templates`, `/notification-sets`, `/custom-taxes`, `/custom-fields`, `/vat-rates`: the same five
//! operations for every catalog kind, generated once per kind so each route has its own OpenAPI entry.

use classbill_domain::custom_field::CustomFieldDefinition;
use classbill_engine::catalog::{
    CustomFieldKind, CustomTaxDocument, CustomTaxKind, InvoiceTemplateDocument, InvoiceTemplateKind,
    NotificationSetDocument, NotificationSetKind, VatRateDocument, VatRateKind,
};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

macro_rules! catalog_routes {
    ($module:ident, $kind:ty, $document:ty, $path:literal, $item_path:literal, $tag:literal) => {
        mod $module {
            use axum::extract::{Path, State};
            use axum::http::StatusCode;
            use classbill_engine::Page;
            use classbill_engine::catalog::CatalogItem;
            use jiff::Timestamp;
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;

            use super::*;
            use crate::extract::{Caller, JsonValue, PageParams, Query};
            use crate::problem::{ApiResult, Problem};

            pub fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create))
                    .routes(routes!(get, update, delete))
            }

            #[utoipa::path(get, path = $path, tag = $tag, params(PageParams),
                        responses((status = 200, body = Page<CatalogItem<$document>>)))]
            async fn list(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Query(page): Query<PageParams>,
            ) -> ApiResult<axum::Json<Page<CatalogItem<$document>>>> {
                Ok(axum::Json(
                    state
                        .engine
                        .list_catalog::<$kind>(&actor, page.request()?)
                        .await?,
                ))
            }

            #[utoipa::path(post, path = $path, tag = $tag, request_body = $document,
                        responses((status = 201, body = CatalogItem<$document>), (status = 422, body = Problem)))]
            async fn create(
                State(state): State<AppState>,
                Caller(actor): Caller,
                JsonValue(body): JsonValue,
            ) -> ApiResult<(StatusCode, axum::Json<CatalogItem<$document>>)> {
                let item = state
                    .engine
                    .create_catalog::<$kind>(&actor, body, Timestamp::now())
                    .await?;
                Ok((StatusCode::CREATED, axum::Json(item)))
            }

            #[utoipa::path(get, path = $item_path, tag = $tag, params(("id" = i64, Path)),
                        responses((status = 200, body = CatalogItem<$document>), (status = 404, body = Problem)))]
            async fn get(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
            ) -> ApiResult<axum::Json<CatalogItem<$document>>> {
                Ok(axum::Json(state.engine.get_catalog::<$kind>(&actor, id).await?))
            }

            /// A JSON Merge Patch over the stored object.
            #[utoipa::path(patch, path = $item_path, tag = $tag, params(("id" = i64, Path)),
                        request_body(content = Object, content_type = "application/merge-patch+json"),
                        responses((status = 200, body = CatalogItem<$document>), (status = 404, body = Problem),
                            (status = 422, body = Problem)))]
            async fn update(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
                JsonValue(body): JsonValue,
            ) -> ApiResult<axum::Json<CatalogItem<$document>>> {
                Ok(axum::Json(
                    state
                        .engine
                        .update_catalog::<$kind>(&actor, id, body, Timestamp::now())
                        .await?,
                ))
            }

            /// 409 `in_use` while a class references it.
            #[utoipa::path(delete, path = $item_path, tag = $tag, params(("id" = i64, Path)),
                        responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
            async fn delete(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
            ) -> ApiResult<StatusCode> {
                state
                    .engine
                    .delete_catalog::<$kind>(&actor, id, Timestamp::now())
                    .await?;
                Ok(StatusCode::NO_CONTENT)
            }
        }
    };
}

catalog_routes!(
    invoice_templates,
    InvoiceTemplateKind,
    InvoiceTemplateDocument,
    "/invoice-templates",
    "/invoice-templates/{id}",
    "invoice templates"
);
catalog_routes!(
    notification_sets,
    NotificationSetKind,
    NotificationSetDocument,
    "/notification-sets",
    "/notification-sets/{id}",
    "notification sets"
);
catalog_routes!(
    custom_taxes,
    CustomTaxKind,
    CustomTaxDocument,
    "/custom-taxes",
    "/custom-taxes/{id}",
    "custom taxes"
);
catalog_routes!(
    custom_fields,
    CustomFieldKind,
    CustomFieldDefinition,
    "/custom-fields",
    "/custom-fields/{id}",
    "custom fields"
);
catalog_routes!(
    vat_rates,
    VatRateKind,
    VatRateDocument,
    "/vat-rates",
    "/vat-rates/{id}",
    "VAT rates"
);

/// `POST /notification-sets/preview`: the texts of a set document rendered with a sample customer and invoice.
mod notification_set_preview {
    use classbill_engine::notifications::preview::{
        NotificationSetPreview, NotificationSetPreviewRequest, preview_notification_texts, preview_request,
    };
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use crate::AppState;
    use crate::extract::{Caller, JsonValue};
    use crate::problem::{ApiResult, Problem};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(preview_notification_set))
    }

    /// Renders each event's texts as the outbox would, with sample values; nothing is stored. Template errors
    /// are answered with `valid: false` and the errors saving would report; a body that is no set document, 422.
    #[utoipa::path(post, path = "/notification-sets/preview", tag = "notification sets",
                   request_body = NotificationSetPreviewRequest,
                   responses((status = 200, body = NotificationSetPreview), (status = 422, body = Problem)))]
    async fn preview_notification_set(
        Caller(_signed_in): Caller,
        JsonValue(body): JsonValue,
    ) -> ApiResult<axum::Json<NotificationSetPreview>> {
        Ok(axum::Json(preview_notification_texts(&preview_request(body)?)))
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(invoice_templates::router())
        .merge(notification_sets::router())
        .merge(notification_set_preview::router())
        .merge(custom_taxes::router())
        .merge(custom_fields::router())
        .merge(vat_rates::router())
}
