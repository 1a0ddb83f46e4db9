//! The external tax engine's request lines and the reading of its answer (§5.5), permanent errors included.

use classbill_domain::Money;
use classbill_domain::invoice_math::ChargeXdr;
use classbill_domain::tax::{ExternalAnswerError, XdrKind, external_lines, read_external_answer};
use jiff::Timestamp;
use serde_json::json;

fn charge(id: i64, second: i64, kind: XdrKind, rate: &str, quantity: i64, amount: i64) -> ChargeXdr {
    ChargeXdr {
        id,
        occurred_at: Timestamp::from_second(1_740_000_000 + second).expect("instant"),
        kind,
        service: "voice".to_owned(),
        rate_code: Some(rate.to_owned()),
        quantity,
        amount: Money(amount),
    }
}

fn march_lines() -> Vec<classbill_domain::tax::ExternalLine> {
    external_lines(&[
        charge(1, 10, XdrKind::Usage, "DE-FIX", 41_200_000, 1_234_567),
        charge(2, 5, XdrKind::LateFee, "FEE", 100_000, 500_000),
        charge(3, 20, XdrKind::Usage, "DE-FIX", 100_000, 100_000),
        charge(4, 30, XdrKind::Credit, "GOODWILL", 100_000, -200_000),
    ])
    .expect("lines")
}

#[test]
fn lines_aggregate_taxable_xdrs_by_kind_service_and_rate_code() {
    let lines = serde_json::to_value(march_lines()).expect("json");
    assert_eq!(
        lines,
        json!([
            {"line_id": "L1", "kind": "usage", "service": "voice", "rate_code": "DE-FIX", "quantity": "413",
             "amount": "13.34567"},
            {"line_id": "L2", "kind": "credit", "service": "voice", "rate_code": "GOODWILL", "quantity": "1",
             "amount": "-2.00000"},
        ])
    );
}

#[test]
fn answers_become_tax_lines_on_top_or_inside_the_prices() {
    let body = json!({"request_id": "close-1-2", "taxes": [
        {"line_id": "L1", "name": "VAT", "jurisdiction": "DE", "rate_percent": "19", "base": "13.34567", "amount": "2.53568"},
        {"line_id": null, "name": "Levy", "rate_percent": "0.5", "base": "11.34567", "amount": "0.05673"},
    ]})
    .to_string();
    let on_top = read_external_answer(&body, "close-1-2", &march_lines(), false).expect("answer");
    assert_eq!(
        on_top
            .iter()
            .map(|t| (t.name.as_str(), t.tax_amount, t.amount))
            .collect::<Vec<_>>(),
        [
            ("VAT", Money(253_568), Money(253_568)),
            ("Levy", Money(5_673), Money(5_673))
        ]
    );
    let inside = read_external_answer(&body, "close-1-2", &march_lines(), true).expect("answer");
    assert!(inside.iter().all(|t| t.amount == Money::ZERO && t.tax_amount.0 > 0));
}

#[test]
fn permanent_errors_name_what_is_wrong() {
    let tax = |line: &str, amount: &str| {
        json!({"request_id": "close-1-2", "taxes": [
            {"line_id": line, "name": "VAT", "rate_percent": "19", "base": "1", "amount": amount}]})
        .to_string()
    };
    let read = |body: &str| read_external_answer(body, "close-1-2", &march_lines(), false).unwrap_err();
    assert!(matches!(read("<html>busy</html>"), ExternalAnswerError::Unparsable(_)));
    assert_eq!(
        read(&json!({"request_id": "close-9-9", "taxes": []}).to_string()),
        ExternalAnswerError::ChangedRequestId {
            expected: "close-1-2".to_owned(),
            found: "close-9-9".to_owned()
        }
    );
    assert_eq!(
        read(&tax("L7", "0.19")),
        ExternalAnswerError::UnknownLine {
            index: 0,
            line_id: "L7".to_owned()
        }
    );
    assert_eq!(
        read(&tax("L1", "0.190001")).to_string(),
        "taxes[0].amount: at most 5 fraction digits are allowed"
    );
}
