//! Pure billing types and rules. Nothing here performs I/O or reads the clock: instants arrive as arguments.

pub mod class;
pub mod collections;
pub mod currency;
pub mod custom_field;
pub mod effective;
pub mod email;
pub mod field_error;
pub mod invoice_math;
pub mod measured;
pub mod money;
pub mod owner;
pub mod party;
pub mod percent;
pub mod period;
pub mod rounding;
pub mod statistics;
pub mod tax;

pub use currency::Currency;
pub use field_error::FieldError;
pub use money::Money;
pub use owner::Owner;
pub use percent::Percent;
