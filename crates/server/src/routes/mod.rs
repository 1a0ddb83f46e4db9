pub mod admin;
pub mod catalog;
pub mod classes;
pub mod effective;
pub mod installation;
pub mod ledger;
pub mod members;
pub mod parties;
