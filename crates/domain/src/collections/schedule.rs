//! Computing an invoice's collection schedule from its policy (§2.3), the installation calendar and the due
//! date (§5.8 rules 1–3, §5.9).

use jiff::Span;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{CollectionEvent, InitialState, ScheduleItem};
use crate::class::{AutoCharge, InvoicePolicy};
use crate::period::local_midnight;

/// The installation calendar as the schedule needs it: `shift(x)` of §5.9.
pub trait WorkingDays {
    /// `date` itself when it is a working day, else the next working day.
    fn next_working_day(&self, date: Date) -> Date;
}

/// What an invoice's schedule is computed from.
pub struct ScheduleInput<'a> {
    /// The §2.3 block of the tab the invoice came from, as frozen in its settings snapshot.
    pub policy: &'a InvoicePolicy,
    pub due_date: Date,
    /// The party's zone: every event is due at its date's local midnight.
    pub zone: &'a TimeZone,
    pub calendar: &'a dyn WorkingDays,
}

fn plus(date: Date, days: i64) -> Result<Date, String> {
    date.checked_add(Span::new().days(days))
        .map_err(|e| format!("date {date} + {days} days: {e}"))
}

/// Every planned event of the invoice, ordered by `due_at`, ties in firing order (§5.8 rule 2).
pub fn collection_schedule(input: &ScheduleInput) -> Result<Vec<ScheduleItem>, String> {
    let policy = input.policy;
    let ladder = &policy.collection;
    let due = input.due_date;
    let mut planned: Vec<(CollectionEvent, Date, InitialState)> = Vec::new();
    let mut add = |event, date, state| planned.push((event, date, state));

    for days in &policy.due_reminder_days {
        add(CollectionEvent::DueReminder, plus(due, -days)?, InitialState::Pending);
    }
    if policy.auto_charge == AutoCharge::OnDueDate {
        add(CollectionEvent::ChargeRequest, due, InitialState::Pending);
    }
    if policy.auto_charge != AutoCharge::Off {
        for days in &policy.auto_charge_retry_days {
            add(CollectionEvent::ChargeRequest, plus(due, *days)?, InitialState::Pending);
        }
    }
    for days in &ladder.resend_after_due_days {
        add(CollectionEvent::Resend, plus(due, *days)?, InitialState::Pending);
    }
    let overdue = plus(due, 1)?;
    add(CollectionEvent::Overdue, overdue, InitialState::Pending);
    if ladder.late_fee.is_some() {
        add(CollectionEvent::LateFee, overdue, InitialState::Pending);
    }

    let shifted = |days: Option<i64>| -> Result<Option<Date>, String> {
        days.map(|d| plus(due, d).map(|date| input.calendar.next_working_day(date)))
            .transpose()
    };
    let limitation = shifted(ladder.limit_after_days)?;
    let suspension = shifted(ladder.suspend_after_days)?;
    // Rule 1: a limitation on or after the suspension is superseded by it, notices included.
    let superseded = matches!((limitation, suspension), (Some(l), Some(s)) if l >= s);
    let limitation_state = if superseded {
        InitialState::Dropped
    } else {
        InitialState::Pending
    };
    let steps = [
        (
            limitation,
            &ladder.limit_notice_days,
            CollectionEvent::LimitationNotice,
            CollectionEvent::Limitation,
            limitation_state,
        ),
        (
            suspension,
            &ladder.suspend_notice_days,
            CollectionEvent::SuspensionNotice,
            CollectionEvent::Suspension,
            InitialState::Pending,
        ),
        (
            ladder.terminate_after_days.map(|d| plus(due, d)).transpose()?,
            &ladder.terminate_notice_days,
            CollectionEvent::TerminationNotice,
            CollectionEvent::Termination,
            InitialState::Pending,
        ),
    ];
    for (date, notices, notice, step, state) in steps {
        let Some(date) = date else { continue };
        for days in notices {
            add(notice, plus(date, -days)?, state);
        }
        add(step, date, state);
    }

    let mut items: Vec<ScheduleItem> = planned
        .into_iter()
        .map(|(event, date, state)| ScheduleItem {
            event,
            date,
            due_at: local_midnight(input.zone, date),
            state,
        })
        .collect();
    items.sort_by_key(|item| (item.due_at, item.event));
    Ok(items)
}

#[cfg(test)]
mod tests {
    use jiff::civil::{Weekday, date};

    use super::*;
    use crate::class::{Collection, PaymentTerms};
    use crate::money::Money;

    /// Saturday and Sunday off, with the §7.1 holiday.
    struct Calendar(Vec<Date>);

    impl WorkingDays for Calendar {
        fn next_working_day(&self, mut day: Date) -> Date {
            while matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) || self.0.contains(&day) {
                day = day.tomorrow().unwrap();
            }
            day
        }
    }

    /// The policy of the §7.1 class.
    fn business_eu() -> InvoicePolicy {
        InvoicePolicy {
            payment_terms: PaymentTerms::Net { days: 15 },
            due_reminder_days: vec![7, 3],
            collection: Collection {
                resend_after_due_days: vec![0, 7],
                late_fee: Some(Money(500_000)),
                limit_after_days: Some(5),
                suspend_after_days: Some(10),
                suspend_notice_days: vec![3],
                reactivation_fee: Some(Money(1_000_000)),
                terminate_after_days: Some(30),
                terminate_notice_days: vec![7],
                ..Collection::default()
            },
            ..InvoicePolicy::default()
        }
    }

    fn schedule(policy: &InvoicePolicy) -> Vec<ScheduleItem> {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let calendar = Calendar(vec![date(2025, 4, 21)]);
        collection_schedule(&ScheduleInput {
            policy,
            due_date: date(2025, 4, 16),
            zone: &zone,
            calendar: &calendar,
        })
        .unwrap()
    }

    fn rows(items: &[ScheduleItem]) -> Vec<(String, String, String, &'static str)> {
        items
            .iter()
            .map(|i| {
                (
                    i.event.to_string(),
                    i.date.to_string(),
                    i.due_at.to_string(),
                    i.state.as_str(),
                )
            })
            .collect()
    }

    fn row(event: &str, date: &str, due_at: &str) -> (String, String, String, &'static str) {
        (event.to_owned(), date.to_owned(), due_at.to_owned(), "pending")
    }

    #[test]
    fn example_7_1_schedule_items_5_to_7() {
        assert_eq!(
            rows(&schedule(&business_eu())),
            vec![
                row("due_reminder", "2025-04-09", "2025-04-08T22:00:00Z"),
                row("due_reminder", "2025-04-13", "2025-04-12T22:00:00Z"),
                row("resend", "2025-04-16", "2025-04-15T22:00:00Z"),
                row("overdue", "2025-04-17", "2025-04-16T22:00:00Z"),
                row("late_fee", "2025-04-17", "2025-04-16T22:00:00Z"),
                row("limitation", "2025-04-22", "2025-04-21T22:00:00Z"),
                row("resend", "2025-04-23", "2025-04-22T22:00:00Z"),
                row("suspension_notice", "2025-04-25", "2025-04-24T22:00:00Z"),
                row("suspension", "2025-04-28", "2025-04-27T22:00:00Z"),
                row("termination_notice", "2025-05-09", "2025-05-08T22:00:00Z"),
                row("termination", "2025-05-16", "2025-05-15T22:00:00Z"),
            ]
        );
    }

    #[test]
    fn reminders_resends_notices_and_termination_are_never_shifted() {
        let items = schedule(&business_eu());
        // 2025-04-13 is a Sunday, 2025-05-16 a Friday after a notice on a Friday; neither moves.
        assert!(
            items
                .iter()
                .any(|i| i.event == CollectionEvent::DueReminder && i.date == date(2025, 4, 13))
        );
        let mut policy = business_eu();
        policy.collection.terminate_after_days = Some(35);
        let items = schedule(&policy);
        let termination = items.iter().find(|i| i.event == CollectionEvent::Termination).unwrap();
        assert_eq!(termination.date, date(2025, 5, 21));
        policy.collection.terminate_after_days = Some(31);
        let items = schedule(&policy);
        let termination = items.iter().find(|i| i.event == CollectionEvent::Termination).unwrap();
        assert_eq!(termination.date, date(2025, 5, 17), "a Saturday stays a Saturday");
    }

    #[test]
    fn limitation_and_suspension_shift_to_the_next_working_day() {
        let items = schedule(&business_eu());
        let date_of = |event| items.iter().find(|i| i.event == event).unwrap().date;
        assert_eq!(date_of(CollectionEvent::Limitation), date(2025, 4, 22), "holiday 04-21");
        assert_eq!(
            date_of(CollectionEvent::Suspension),
            date(2025, 4, 28),
            "Saturday 04-26"
        );
        assert_eq!(
            date_of(CollectionEvent::SuspensionNotice),
            date(2025, 4, 25),
            "counted back from the shifted date"
        );
    }

    #[test]
    fn rule_1_limitation_on_or_after_suspension_is_dropped_with_its_notices() {
        let mut policy = business_eu();
        // 04-16 + 11 = 04-27 (Sunday) → 04-28, the suspension's own shifted date.
        policy.collection.limit_after_days = Some(11);
        policy.collection.limit_notice_days = vec![2];
        let items = schedule(&policy);
        let dropped: Vec<_> = items
            .iter()
            .filter(|i| i.state == InitialState::Dropped)
            .map(|i| i.event)
            .collect();
        assert_eq!(
            dropped,
            vec![CollectionEvent::LimitationNotice, CollectionEvent::Limitation]
        );
        policy.collection.limit_after_days = Some(9);
        assert!(schedule(&policy).iter().all(|i| i.state == InitialState::Pending));
    }

    #[test]
    fn rule_2_equal_instants_fire_reminders_and_charge_requests_first_then_table_order() {
        let mut policy = business_eu();
        policy.due_reminder_days = vec![];
        policy.auto_charge = AutoCharge::OnDueDate;
        policy.auto_charge_retry_days = vec![1];
        policy.collection.limit_after_days = Some(1);
        policy.collection.resend_after_due_days = vec![1];
        let items = schedule(&policy);
        let at_overdue: Vec<_> = items
            .iter()
            .filter(|i| i.date == date(2025, 4, 17))
            .map(|i| i.event)
            .collect();
        assert_eq!(
            at_overdue,
            vec![
                CollectionEvent::ChargeRequest,
                CollectionEvent::Resend,
                CollectionEvent::Overdue,
                CollectionEvent::LateFee,
                CollectionEvent::Limitation,
            ]
        );
        assert_eq!(items[0].event, CollectionEvent::ChargeRequest);
        assert_eq!(items[0].date, date(2025, 4, 16));
    }

    #[test]
    fn charge_requests_follow_auto_charge() {
        let mut policy = business_eu();
        policy.auto_charge_retry_days = vec![2];
        let count = |policy: &InvoicePolicy| {
            schedule(policy)
                .iter()
                .filter(|i| i.event == CollectionEvent::ChargeRequest)
                .count()
        };
        assert_eq!(count(&policy), 0, "auto_charge off");
        policy.auto_charge = AutoCharge::OnIssue;
        assert_eq!(
            count(&policy),
            1,
            "retries only; the on_issue request goes out at issue"
        );
        policy.auto_charge = AutoCharge::OnDueDate;
        assert_eq!(count(&policy), 2);
    }

    #[test]
    fn an_empty_ladder_still_plans_the_overdue_event() {
        let items = schedule(&InvoicePolicy::default());
        assert_eq!(rows(&items), vec![row("overdue", "2025-04-17", "2025-04-16T22:00:00Z")]);
    }

    #[test]
    fn event_names_round_trip() {
        for (event, name) in super::super::NAMES {
            assert_eq!(event.as_str(), name);
            assert_eq!(name.parse::<CollectionEvent>().unwrap(), event);
        }
        assert!("reminder".parse::<CollectionEvent>().is_err());
    }
}
