//! Library half of greenlight: the binary is a thin shell over these modules.

pub mod sandbox;
