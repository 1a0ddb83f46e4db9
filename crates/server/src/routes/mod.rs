pub mod admin;
pub mod catalog;
pub mod classes;
pub mod resellers;
