mod helpers;
mod selftest;

mod bruteforce;
mod cli;
mod conformance;
mod guard;
mod infra;
mod lambda;
mod lost_answers;
mod protections;
mod serve;
mod sqlite_race;
mod sqlite_scale;
mod tick;
mod world;
