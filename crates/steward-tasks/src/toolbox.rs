//! [`Toolbox`]: what a task uses besides its spec (Druid's `TaskToolbox`, reduced to what
//! Steward's tasks need): the task-action client, deep storage, the chat handler's server and
//! the client of other tasks' chat handlers, built from the `peon.json` the MiddleManager
//! wrote into the task directory.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use steward_http::{basic_authorization, load_ca, InternalClient};
use steward_model::peon::{PeonConfig, PEON_CONFIG_FILE};
use steward_model::{Task, TaskAction};

use crate::actions::{OverlordLocator, TaskActionClient};
use crate::chat::{ChatClient, ChatServer};
use crate::storage::{self, DeepStorage};

/// The task-action client, deep storage, chat server and chat client of one task.
pub struct Toolbox {
    pub actions: TaskActionClient,
    pub storage: Box<dyn DeepStorage>,
    /// `None` when the MiddleManager gave the peon no port (a peon run by hand).
    pub chat: Option<ChatServer>,
    /// How this task calls other tasks' chat handlers (a sub-task its supervisor's).
    pub peers: ChatClient,
    /// Scratch space of the task (spills, segments before they are pushed), inside its task
    /// directory, so the MiddleManager removes it with the directory.
    pub work_dir: PathBuf,
}

impl Toolbox {
    /// Builds the toolbox of `task` from `config`; the chat handler listens on `chat_port`.
    pub fn new(
        config: &PeonConfig,
        task: &Task,
        chat_port: Option<u16>,
        work_dir: PathBuf,
    ) -> Result<Toolbox, String> {
        let ca = match &config.ca_path {
            Some(path) => load_ca(path).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        let authorization = match &config.escalator {
            Some(c) => Some(
                basic_authorization(&c.username, &c.password).ok_or_else(|| {
                    "The internal client's user name or password cannot be sent in an HTTP header"
                        .to_string()
                })?,
            ),
            None => None,
        };
        let internal = InternalClient { ca, authorization };
        let locator = OverlordLocator::new(&config.overlord_urls).map_err(|e| e.to_string())?;
        let actions = TaskActionClient::new(locator, task, &internal, config.retry)
            .map_err(|e| e.to_string())?;
        let peers = ChatClient::new(config, &internal)?;
        let chat = chat_port
            .map(|port| ChatServer::new(config, port))
            .transpose()?;
        Ok(Toolbox {
            actions,
            storage: storage::from_config(&config.storage),
            chat,
            peers,
            work_dir,
        })
    }

    /// Submits a task action to the Overlord; the error names the action.
    pub(crate) async fn act<T: DeserializeOwned>(&self, action: TaskAction) -> Result<T, String> {
        self.actions
            .submit(&action)
            .await
            .map_err(|e| format!("Task action [{}] failed: {e}", action.type_name()))
    }

    /// Reads `<task_dir>/peon.json` and builds the toolbox of `task` from it.
    pub fn load(task_dir: &Path, task: &Task, chat_port: Option<u16>) -> Result<Toolbox, String> {
        let path = task_dir.join(PEON_CONFIG_FILE);
        let config: PeonConfig = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| {
                format!(
                    "Cannot read the peon configuration [{}]: {e}",
                    path.display()
                )
            })?;
        Toolbox::new(&config, task, chat_port, task_dir.join("work"))
    }
}
