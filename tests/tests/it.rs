mod helpers;
mod selftest;

mod bruteforce;
mod tick;
mod world;
mod guard;
