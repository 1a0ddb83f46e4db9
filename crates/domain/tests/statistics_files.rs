//! Statistics files (customer-classes §5.12) with the March 2025 period of §7.1.

use classbill_domain::Money;
use classbill_domain::statistics::{FULL_HEADER, StatisticsRow, file_names, full_csv, summary_csv};
use jiff::Timestamp;
use jiff::tz::TimeZone;

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").expect("zone")
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("instant")
}

fn row(id: i64, occurred_at: &str, kind: &str, service: &str, quantity: &str, amount: &str) -> StatisticsRow {
    StatisticsRow {
        xdr_id: id,
        external_id: None,
        occurred_at: at(occurred_at),
        kind: kind.to_owned(),
        service: service.to_owned(),
        rate_code: None,
        description: None,
        quantity: Money::parse(quantity).expect("quantity"),
        amount: Money::parse(amount).expect("amount"),
        currency: "EUR".to_owned(),
        invoice_number: Some("INV-000042".to_owned()),
        late: false,
        hidden: false,
    }
}

/// The March xDRs of customer 1001 plus the close-time tax and rounding, in a scrambled order.
fn march() -> Vec<StatisticsRow> {
    let end = "2025-03-31T22:00:00Z";
    let mut payment = row(3, "2025-03-10T10:00:00Z", "payment", "payment", "1", "-60");
    payment.invoice_number = None;
    vec![
        row(9, end, "rounding", "rounding", "1", "0.00574"),
        row(4, "2025-03-11T16:40:00Z", "usage", "voice", "1203", "20.00001"),
        row(1, "2025-02-28T23:00:00Z", "recurring", "sip_trunk", "1", "29.90"),
        row(2, "2025-03-03T09:12:00Z", "usage", "voice", "412", "12.34567"),
        payment,
        row(8, end, "tax", "tax", "1", "12.60614"),
        row(5, "2025-03-19T07:05:00Z", "usage", "voice", "96", "5.11244"),
        row(6, "2025-03-21T11:00:00Z", "usage", "sms", "9", "0.99"),
        row(7, "2025-03-25T08:30:00Z", "credit", "voice", "1", "-2"),
    ]
}

#[test]
fn the_summary_of_march_matches_the_worked_example() {
    let expected = "service,kind,xdr_count,quantity,amount\n\
        payment,payment,1,1.00000,-60.00000\n\
        rounding,rounding,1,1.00000,0.00574\n\
        sip_trunk,recurring,1,1.00000,29.90000\n\
        sms,usage,1,9.00000,0.99000\n\
        tax,tax,1,1.00000,12.60614\n\
        voice,credit,1,1.00000,-2.00000\n\
        voice,usage,3,1711.00000,37.45812\n\
        TOTAL,,9,,18.96000\n";
    assert_eq!(summary_csv(&march()), expected);
}

#[test]
fn hidden_rows_are_left_out_of_the_summary() {
    let mut rows = march();
    let mut reset = row(10, "2025-03-31T22:00:00Z", "adjustment", "balance_reset", "1", "-18.96");
    reset.hidden = true;
    rows.push(reset);
    assert!(summary_csv(&rows).ends_with("voice,usage,3,1711.00000,37.45812\nTOTAL,,9,,18.96000\n"));
}

#[test]
fn the_file_names_carry_the_party_and_the_local_dates() {
    let names = file_names(
        1001,
        "2025-03-01".parse().expect("date"),
        "2025-03-31".parse().expect("date"),
    );
    assert_eq!(names.full, "1001_2025-03-01_2025-03-31_full.csv");
    assert_eq!(names.summary, "1001_2025-03-01_2025-03-31_summary.csv");
}

#[test]
fn the_full_file_quotes_orders_and_shows_local_offsets() {
    let mut rows = march();
    rows[3].external_id = Some("cdr-2".to_owned());
    rows[3].rate_code = Some("DE-FIX".to_owned());
    rows[3].description = Some("Calls to \"Berlin\", fixed".to_owned());
    let mut multi_line = row(11, "2025-03-31T21:59:59Z", "usage", "voice", "1", "0.5");
    multi_line.description = Some("line one\nline two".to_owned());
    multi_line.invoice_number = None;
    multi_line.late = true;
    rows.push(multi_line);
    let mut hidden = row(10, "2025-03-31T22:00:00Z", "adjustment", "balance_reset", "1", "-18.96");
    hidden.hidden = true;
    rows.push(hidden);

    let csv = full_csv(&rows, &berlin());
    assert!(csv.starts_with(&format!("{FULL_HEADER}\n")));
    assert_eq!(
        FULL_HEADER,
        "xdr_id,external_id,occurred_at_utc,occurred_at_local,kind,service,rate_code,description,quantity,amount,\
         currency,invoice_number,late"
    );
    assert!(!csv.contains("\r"), "LF line ends only");
    assert!(!csv.contains("balance_reset"), "hidden rows are left out");
    let lines: Vec<&str> = csv.trim_end_matches('\n').split('\n').collect();
    assert_eq!(
        lines[1],
        "1,,2025-02-28T23:00:00Z,2025-03-01T00:00:00+01:00,recurring,sip_trunk,,,1.00000,29.90000,EUR,INV-000042,false"
    );
    assert_eq!(
        lines[2],
        "2,cdr-2,2025-03-03T09:12:00Z,2025-03-03T10:12:00+01:00,usage,voice,DE-FIX,\
         \"Calls to \"\"Berlin\"\", fixed\",412.00000,12.34567,EUR,INV-000042,false"
    );
    assert_eq!(
        lines[3],
        "3,,2025-03-10T10:00:00Z,2025-03-10T11:00:00+01:00,payment,payment,,,1.00000,-60.00000,EUR,,false"
    );
    // After the switch to summer time on 2025-03-30 the offset is +02:00.
    assert_eq!(
        lines[8],
        "11,,2025-03-31T21:59:59Z,2025-03-31T23:59:59+02:00,usage,voice,,\"line one"
    );
    assert_eq!(lines[9], "line two\",1.00000,0.50000,EUR,,true");
    let ids: Vec<&str> = lines[10..].iter().map(|l| l.split(',').next().unwrap_or("")).collect();
    assert_eq!(ids, vec!["8", "9"], "same instant: ordered by xdr_id");
    assert_eq!(lines.len(), 12);
}
