use super::*;

fn get(name: &str, if_none_match: Option<&str>) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(tag) = if_none_match {
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
    }
    serve(name, &headers)
}

fn header_of(r: &Response, name: header::HeaderName) -> &str {
    r.headers().get(name).unwrap().to_str().unwrap()
}

#[test]
fn every_asset_is_served_with_its_type_a_strong_etag_and_no_cache() {
    for asset in ASSETS {
        let r = get(asset.name, None);
        assert_eq!(r.status(), StatusCode::OK, "{}", asset.name);
        assert_eq!(header_of(&r, header::CONTENT_TYPE), asset.content_type);
        assert_eq!(header_of(&r, header::CACHE_CONTROL), "no-cache");
        let etag = header_of(&r, header::ETAG);
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 22,
            "{etag}"
        );
    }
    let tags: std::collections::HashSet<_> = etags().iter().collect();
    assert_eq!(
        tags.len(),
        ASSETS.len(),
        "different contents, different tags"
    );
}

#[test]
fn a_request_holding_the_current_version_gets_a_bodiless_304() {
    let etag = header_of(&get("app.js", None), header::ETAG).to_string();
    for held in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_string(),
    ] {
        let r = get("app.js", Some(&held));
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{held}");
        assert_eq!(header_of(&r, header::ETAG), etag);
        assert_eq!(header_of(&r, header::CACHE_CONTROL), "no-cache");
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
    }
    assert_eq!(get("app.js", Some("\"stale\"")).status(), StatusCode::OK);
    // Another asset's tag is not this one's.
    let css = header_of(&get("console.css", None), header::ETAG).to_string();
    assert_eq!(get("app.js", Some(&css)).status(), StatusCode::OK);
}

#[test]
fn an_unknown_asset_is_a_404_in_druids_shape() {
    for name in ["nope.js", "", "..", "index.html.bak"] {
        let r = get(name, None);
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/json");
    }
}

/// What the page loads is what the Overlord serves, and nothing comes from elsewhere.
#[test]
fn every_reference_between_assets_resolves_and_none_leaves_the_overlord() {
    let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
    for asset in ASSETS {
        assert!(
            !asset.body.contains("http://") && !asset.body.contains("https://"),
            "{} refers to another host",
            asset.name
        );
        for prefix in ["/console/", "from './"] {
            for (at, _) in asset.body.match_indices(prefix) {
                let rest = &asset.body[at + prefix.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                    .unwrap_or(rest.len());
                let target = &rest[..end];
                assert!(
                    names.contains(&target),
                    "{} refers to [{target}], which is not an asset",
                    asset.name
                );
            }
        }
    }
}
