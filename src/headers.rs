//! Request headers read the way the guardrail trusts them: as bytes, and refused when they
//! are ambiguous.

/// The value of header `name` (case-insensitive), `None` when absent, `Err(())` when it is
/// sent more than once: a client-sent copy can stand beside the one the mesh adds (Envoy's
/// `jwt_authn` `claim_to_headers` appends), so no copy can be trusted.
#[allow(clippy::result_unit_err)]
pub fn single<'h>(headers: &'h [(Vec<u8>, Vec<u8>)], name: &str) -> Result<Option<&'h [u8]>, ()> {
    let mut values = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice());
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn one_value_none_or_ambiguous() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        let one = h(&[("X-User", "bob"), ("other", "x")]);
        assert_eq!(super::single(&one, "x-user"), Ok(Some(&b"bob"[..])));
        assert_eq!(super::single(&one, "x-tier"), Ok(None));
        let two = h(&[("x-user", "eve"), ("X-USER", "bob")]);
        assert_eq!(super::single(&two, "x-user"), Err(()));
    }
}
