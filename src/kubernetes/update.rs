//! Read-modify-write on `resourceVersion`: the object is read, changed in
//! memory and written back whole with the version it was read at. A 409 means
//! someone wrote in between: read again and redo the change, a bounded number
//! of times.

use serde_json::Value;

use super::error::{code, describe};
use super::objects::Objects;
use crate::provider::ProviderError;

/// Writes refused with 409 before greenlight gives up.
pub const ATTEMPTS: usize = 5;

/// Applies `change` to the live object until a write of it sticks. `change`
/// may refuse (the object is not what greenlight expects). Returns the object
/// as written, or as read when `change` left it as it was.
pub async fn read_modify_write<F>(
    objects: &Objects<'_>,
    name: &str,
    mut change: F,
) -> Result<Value, ProviderError>
where
    F: FnMut(&mut Value) -> Result<(), ProviderError>,
{
    for attempt in 1..=ATTEMPTS {
        let mut object = objects.get_existing(name).await?;
        let before = object.clone();
        change(&mut object)?;
        if object == before {
            return Ok(object);
        }
        match objects.replace(name, &object).await {
            Ok(written) => return Ok(written),
            Err(error) if code(&error) == Some(409) => {
                tracing::info!(
                    "{} changed while greenlight was updating it (attempt {attempt} of {ATTEMPTS}); reading it again",
                    objects.what(name)
                );
            }
            Err(error) => return Err(describe(&error, "updating", &objects.what(name))),
        }
    }
    Err(ProviderError::new(format!(
        "updating {}: {ATTEMPTS} writes in a row were refused with 409 Conflict",
        objects.what(name)
    ))
    .with_hint("something else keeps changing this object (another controller or pipeline); stop it and run again"))
}
