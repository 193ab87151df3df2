//! The Tallyfy settings beyond the access token: renewing it with a refresh token, or
//! client credentials alone (acting as each person).

use url::Url;

use super::secret::Secret;

#[derive(Clone, Debug)]
pub struct TallyfyRefresh {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
}

/// Client credentials without a refresh token: the service acts as each person with a
/// token Tallyfy mints for them, and as itself with an application token.
#[derive(Clone, Debug)]
pub struct ClientGrant {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

/// How the service gets its Tallyfy tokens beyond `TALLYFY_ACCESS_TOKEN`: renewing it with
/// a refresh token (all four refresh settings), or client credentials alone (the token URL
/// then defaults to `/oauth/token` beside the API). `get` reads a setting (trimmed, `None`
/// when empty); each problem is added to `errors`.
pub(super) fn read(
    get: &dyn Fn(&str) -> Option<String>,
    api_url: Option<&Url>,
    errors: &mut Vec<String>,
) -> (Option<TallyfyRefresh>, Option<ClientGrant>) {
    if get("TALLYFY_REFRESH_TOKEN").is_some() {
        return (refresh(get, errors), None);
    }
    let (id, secret) = (get("TALLYFY_CLIENT_ID"), get("TALLYFY_CLIENT_SECRET"));
    let (Some(client_id), Some(secret)) = (id.clone(), secret.clone()) else {
        if id.is_some() || secret.is_some() || get("TALLYFY_TOKEN_URL").is_some() {
            // Half of either set: say what each mode needs.
            errors.push(
                "client credentials need both TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET \
                 (add TALLYFY_REFRESH_TOKEN and TALLYFY_TOKEN_URL to renew one access \
                 token instead)"
                    .into(),
            );
        }
        return (None, None);
    };
    let token_url = match get("TALLYFY_TOKEN_URL") {
        Some(raw) => url("TALLYFY_TOKEN_URL", &raw, errors),
        None => api_url.and_then(|api| api.join("../oauth/token").ok()),
    };
    let Some(token_url) = token_url else {
        return (None, None);
    };
    let grant = ClientGrant {
        token_url,
        client_id,
        client_secret: Secret::new(secret),
    };
    (None, Some(grant))
}

fn url(name: &str, raw: &str, errors: &mut Vec<String>) -> Option<Url> {
    match Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
        _ => {
            errors.push(format!("{name} must be an http(s) URL, not {raw:?}"));
            None
        }
    }
}

fn refresh(
    get: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<TallyfyRefresh> {
    let names = [
        "TALLYFY_TOKEN_URL",
        "TALLYFY_CLIENT_ID",
        "TALLYFY_CLIENT_SECRET",
        "TALLYFY_REFRESH_TOKEN",
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| get(n)).collect();
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        errors.push(format!(
            "token refresh needs all four of {}; missing: {}",
            names.join(", "),
            missing.join(", ")
        ));
        return None;
    }
    let mut values = values.into_iter().map(Option::unwrap);
    let token_url = url("TALLYFY_TOKEN_URL", &values.next().unwrap(), errors)?;
    Some(TallyfyRefresh {
        token_url,
        client_id: values.next().unwrap(),
        client_secret: Secret::new(values.next().unwrap()),
        refresh_token: Secret::new(values.next().unwrap()),
    })
}
