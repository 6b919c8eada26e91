mod helpers;
mod selftest;

mod bruteforce;
mod cli;
mod guard;
mod tick;
mod world;
