//! The installation calendar of customer-classes §5.9: non-working weekdays and holidays.

use super::*;

/// The installation calendar of customer-classes §5.9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// In week order, Monday first; at most six.
    pub non_working_weekdays: Vec<Weekday>,
    /// Ascending, without repeats.
    pub holidays: Vec<Date>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            non_working_weekdays: vec![Weekday::Saturday, Weekday::Sunday],
            holidays: Vec::new(),
        }
    }
}

pub(super) const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

pub(super) fn weekday_name(day: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(_, weekday)| *weekday == day)
        .map_or("monday", |(name, _)| name)
}

/// A `YYYY-MM-DD` text naming a real date.
pub(super) fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    text.parse::<Date>().ok()
}

/// The non-working weekdays of a submitted list, in week order, or the violations.
pub(super) fn check_weekdays(field: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<Weekday>> {
    let Some(items) = value.as_array() else {
        errors.push(type_error(field, "a list of weekday names", value));
        return None;
    };
    let before = errors.len();
    let mut chosen = [false; 7];
    for (index, item) in items.iter().enumerate() {
        let at = format!("{field}[{index}]");
        match item.as_str() {
            Some(name) => match WEEKDAYS.iter().position(|(day, _)| *day == name) {
                Some(position) => chosen[position] = true,
                None => errors.push(FieldError::new(
                    at,
                    "out_of_range",
                    format!("{name:?} is not one of monday, tuesday, wednesday, thursday, friday, saturday, sunday"),
                )),
            },
            None => errors.push(type_error(&at, "a weekday name such as \"saturday\"", item)),
        }
    }
    if chosen.iter().all(|&day| day) {
        errors.push(FieldError::new(
            field,
            "too_many",
            "at most 6 non-working weekdays: a week needs a working day",
        ));
    }
    (errors.len() == before).then(|| {
        WEEKDAYS
            .iter()
            .zip(chosen)
            .filter(|(_, chosen)| *chosen)
            .map(|((_, day), _)| *day)
            .collect()
    })
}

/// The holidays of a submitted list, sorted and without repeats, or the violations.
pub(super) fn check_holidays(field: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<Date>> {
    let Some(items) = value.as_array() else {
        errors.push(type_error(field, "a list of dates YYYY-MM-DD", value));
        return None;
    };
    let before = errors.len();
    let mut dates = BTreeSet::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{field}[{index}]");
        match item.as_str() {
            Some(text) => match parse_date(text) {
                Some(date) => {
                    dates.insert(date);
                }
                None => errors.push(FieldError::new(
                    at,
                    "out_of_range",
                    format!("{text:?} is not a date YYYY-MM-DD"),
                )),
            },
            None => errors.push(type_error(&at, "a date YYYY-MM-DD", item)),
        }
    }
    if dates.len() > MAX_HOLIDAYS {
        errors.push(FieldError::new(
            field,
            "too_many",
            format!("at most {MAX_HOLIDAYS} holidays"),
        ));
    }
    (errors.len() == before).then(|| dates.into_iter().collect())
}

impl Calendar {
    /// Reads the calendar; a part that is missing or unusable keeps its default.
    pub async fn load(tx: &mut Tx) -> EngineResult<Calendar> {
        let defaults = Calendar::default();
        let mut scratch = Vec::new();
        let weekdays = stored_settings::get(tx, NON_WORKING_WEEKDAYS_KEY)
            .await?
            .filter(|value| !value.is_null())
            .and_then(|value| check_weekdays(NON_WORKING_WEEKDAYS_KEY, &value, &mut scratch));
        let holidays = stored_settings::get(tx, HOLIDAYS_KEY)
            .await?
            .filter(|value| !value.is_null())
            .and_then(|value| check_holidays(HOLIDAYS_KEY, &value, &mut scratch));
        if !scratch.is_empty() {
            tracing::warn!("stored installation calendar is not valid; defaults apply to the invalid part");
        }
        Ok(Calendar {
            non_working_weekdays: weekdays.unwrap_or(defaults.non_working_weekdays),
            holidays: holidays.unwrap_or(defaults.holidays),
        })
    }

    /// Reads the body of `PUT /calendar`; every violation is reported.
    pub fn from_document(body: &Value) -> Result<Calendar, Vec<FieldError>> {
        let Some(fields) = body.as_object() else {
            return Err(vec![type_error("", "an object {non_working_weekdays, holidays}", body)]);
        };
        let mut errors = Vec::new();
        for name in fields.keys() {
            if name != "non_working_weekdays" && name != "holidays" {
                errors.push(FieldError::new(
                    name.clone(),
                    "unknown_field",
                    "the calendar has only non_working_weekdays and holidays",
                ));
            }
        }
        let mut part = |name: &str| {
            let value = fields.get(name);
            if value.is_none() {
                errors.push(FieldError::new(name, "required", format!("{name} is required")));
            }
            value.cloned()
        };
        let weekdays = part("non_working_weekdays");
        let holidays = part("holidays");
        let weekdays = weekdays.and_then(|value| check_weekdays("non_working_weekdays", &value, &mut errors));
        let holidays = holidays.and_then(|value| check_holidays("holidays", &value, &mut errors));
        match (weekdays, holidays) {
            (Some(non_working_weekdays), Some(holidays)) if errors.is_empty() => Ok(Calendar {
                non_working_weekdays,
                holidays,
            }),
            _ => Err(errors),
        }
    }

    /// False on a non-working weekday or a holiday.
    pub fn is_working_day(&self, date: Date) -> bool {
        !self.non_working_weekdays.contains(&date.weekday()) && self.holidays.binary_search(&date).is_err()
    }

    /// `shift(x)` of §5.9: `date` itself when it is a working day, else the next working day.
    pub fn next_working_day(&self, date: Date) -> Date {
        let mut day = date;
        // Six non-working weekdays at most, so a working day is at most a week past the last holiday.
        for _ in 0..=(self.holidays.len() + 7) {
            if self.is_working_day(day) {
                return day;
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        day
    }

    pub(super) fn weekday_names(&self) -> Vec<String> {
        self.non_working_weekdays
            .iter()
            .map(|day| weekday_name(*day).to_owned())
            .collect()
    }

    pub(super) fn holiday_texts(&self) -> Vec<String> {
        self.holidays.iter().map(Date::to_string).collect()
    }

    /// The calendar as `/calendar` shows it.
    pub fn document(&self) -> CalendarDocument {
        CalendarDocument {
            non_working_weekdays: self.weekday_names(),
            holidays: self.holiday_texts(),
        }
    }
}

/// The installation calendar: non-working weekdays (default Saturday and Sunday) and holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDocument {
    /// Distinct names from `monday` to `sunday`, at most 6; answered in week order.
    #[schema(example = json!(["saturday", "sunday"]))]
    pub non_working_weekdays: Vec<String>,
    /// Dates `YYYY-MM-DD`, at most 1000; answered sorted and without repeats.
    #[schema(example = json!(["2026-12-25", "2026-12-26"]))]
    pub holidays: Vec<String>,
}
