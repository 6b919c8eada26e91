mod helpers;
mod selftest;

mod bruteforce;
mod guard;
mod tick;
mod world;
