//! A command check: exit 0 passes; what it printed goes into the report.

use std::time::Duration;

use super::Attempt;
use crate::engine::event::StepNumber;
use crate::engine::plan::CheckStage;
use crate::process::run_shell;
use crate::release::Release;

pub struct CommandProbe {
    script: String,
    release: Release,
}

impl CommandProbe {
    pub fn new(script: &str, release: &Release) -> Self {
        Self {
            script: script.to_owned(),
            release: release.clone(),
        }
    }

    pub async fn attempt(
        &self,
        timeout: Duration,
        stage: CheckStage,
        step: Option<StepNumber>,
    ) -> Attempt {
        let mut env = self.release.env();
        env.push(("GREENLIGHT_VERSION", self.release.new_version.clone()));
        env.push(("GREENLIGHT_STAGE", stage.as_str().replace(' ', "-")));
        if let Some(step) = step {
            env.push(("GREENLIGHT_STEP", step.to_string()));
        }
        match run_shell(&self.script, &env, timeout).await {
            Ok(finished) => {
                let printed = [finished.stdout.trim_end(), finished.stderr.trim_end()]
                    .into_iter()
                    .filter(|text| !text.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                let detail = if finished.success {
                    format!("`{}` exited 0", self.script)
                } else {
                    finished.outcome(&self.script)
                };
                Attempt {
                    passed: finished.success,
                    detail,
                    output: (!printed.is_empty()).then_some(printed),
                }
            }
            Err(error) => Attempt {
                passed: false,
                detail: error.to_string(),
                output: None,
            },
        }
    }
}
