mod helpers;
mod selftest;

mod bruteforce;
mod cli;
mod conformance;
mod guard;
mod infra;
mod lambda;
mod serve;
mod tick;
mod world;
