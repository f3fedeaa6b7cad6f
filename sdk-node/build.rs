//! Node-API addons resolve `napi_*` symbols from the node binary at load time.
fn main() {
    napi_build::setup();
}
