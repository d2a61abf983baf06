//! RuntimeService: the runtime's name and version, and its status. Pods and containers are
//! the next step (podadm's engine: a pod sandbox is a podadm pod, a container a podadm
//! container); until then their calls answer `UNIMPLEMENTED`, naming the call.

use k8s_cri::v1::runtime_service_server::RuntimeService;
use k8s_cri::v1::*;
use tonic::{Request, Response, Status};

use aurora_engine::EngineError;

use crate::error::{blocking, internal, ApiError};
use crate::{containers, pods, ServerConfig};

/// The CRI API version this server speaks.
const RUNTIME_API_VERSION: &str = "v1";

/// The RuntimeService.
pub struct RuntimeApi {
    config: ServerConfig,
}

impl RuntimeApi {
    pub fn new(config: ServerConfig) -> Self {
        RuntimeApi { config }
    }

    /// The streaming server, once `container` (when given) is found running.
    async fn streaming_for(
        &self,
        container: Option<&str>,
    ) -> Result<&aurora_cri_streaming::StreamingServer, Status> {
        let server = self
            .config
            .streaming
            .server()
            .ok_or_else(crate::streaming::not_running)?;
        if let Some(container) = container {
            crate::streaming::check_running(&self.config, container).await?;
        }
        Ok(server)
    }
}

/// `UNIMPLEMENTED`, naming the call.
fn not_yet(call: &str) -> Status {
    Status::unimplemented(format!("{call} is not served yet by Aurora's CRI server"))
}

#[tonic::async_trait]
impl RuntimeService for RuntimeApi {
    async fn version(
        &self,
        _request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: "0.1.0".to_string(),
            runtime_name: "aurora".to_string(),
            runtime_version: env!("CARGO_PKG_VERSION").to_string(),
            runtime_api_version: RUNTIME_API_VERSION.to_string(),
        }))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let condition = |kind: &str, ready: bool, reason: &str, message: String| RuntimeCondition {
            r#type: kind.to_string(),
            status: ready,
            reason: reason.to_string(),
            message,
        };
        // Pods get a network when the CNI conf dir's default network and its plugins are
        // there (kubelet schedules no pod network until then).
        let cni = self.config.cni.clone();
        let network = blocking(move || Ok(cni.ready())).await?;
        let network = match network {
            Ok(_) => condition("NetworkReady", true, "", String::new()),
            Err(e) => condition(
                "NetworkReady",
                false,
                "NetworkPluginNotReady",
                format!("Network plugin returns error: cni plugin not initialized: {e}"),
            ),
        };
        Ok(Response::new(StatusResponse {
            status: Some(RuntimeStatus {
                conditions: vec![condition("RuntimeReady", true, "", String::new()), network],
            }),
            ..Default::default()
        }))
    }

    async fn run_pod_sandbox(
        &self,
        request: Request<RunPodSandboxRequest>,
    ) -> Result<Response<RunPodSandboxResponse>, Status> {
        let sandbox = request.into_inner().config.unwrap_or_default();
        let (pod, name) = pods::pod_config(&sandbox)?;
        let config = self.config.clone();
        let pod_sandbox_id = blocking(move || {
            let engine = pods::engine(&config)?;
            let pod = engine.pod_create(pod, Some(&name)).map_err(pods::status)?;
            if let Err(e) = engine.pod_start(&pod.id) {
                let _ = engine.pod_remove(&pod.id, true);
                return Err(pods::status(e));
            }
            Ok(pod.id)
        })
        .await?;
        Ok(Response::new(RunPodSandboxResponse { pod_sandbox_id }))
    }

    async fn stop_pod_sandbox(
        &self,
        request: Request<StopPodSandboxRequest>,
    ) -> Result<Response<StopPodSandboxResponse>, Status> {
        let id = request.into_inner().pod_sandbox_id;
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            // Stopping a stopped or removed sandbox succeeds: kubelet retries. kubelet has
            // stopped the containers with their grace periods already: what is left is
            // killed at once, as containerd does (a TERM that reached the infra's init
            // before it blocked signals would otherwise cost the whole default timeout).
            match engine.pod_stop(&id, Some(0)) {
                Ok(_) | Err(aurora_engine::EngineError::NoSuchPod(_)) => Ok(()),
                Err(e) => Err(pods::status(e)),
            }
        })
        .await?;
        Ok(Response::new(StopPodSandboxResponse {}))
    }

    async fn remove_pod_sandbox(
        &self,
        request: Request<RemovePodSandboxRequest>,
    ) -> Result<Response<RemovePodSandboxResponse>, Status> {
        let id = request.into_inner().pod_sandbox_id;
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            match engine.pod_remove(&id, true) {
                Ok(_) | Err(aurora_engine::EngineError::NoSuchPod(_)) => Ok(()),
                Err(e) => Err(pods::status(e)),
            }
        })
        .await?;
        Ok(Response::new(RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<PodSandboxStatusRequest>,
    ) -> Result<Response<PodSandboxStatusResponse>, Status> {
        let id = request.into_inner().pod_sandbox_id;
        let config = self.config.clone();
        let status = blocking(move || {
            let engine = pods::engine(&config)?;
            let pod = engine.pod_find(&id).map_err(pods::status)?;
            Ok(pods::sandbox_status(&engine, &pod))
        })
        .await?;
        Ok(Response::new(PodSandboxStatusResponse {
            status: Some(status),
            ..Default::default()
        }))
    }

    async fn list_pod_sandbox(
        &self,
        request: Request<ListPodSandboxRequest>,
    ) -> Result<Response<ListPodSandboxResponse>, Status> {
        let filter = request.into_inner().filter.unwrap_or_default();
        let config = self.config.clone();
        let items = blocking(move || {
            let engine = pods::engine(&config)?;
            let pods = engine.pod_list().map_err(pods::status)?;
            Ok(pods
                .iter()
                .filter(|pod| pods::is_cri_pod(pod) && pods::matches(&engine, pod, &filter))
                .map(|pod| pods::sandbox(&engine, pod))
                .collect())
        })
        .await?;
        Ok(Response::new(ListPodSandboxResponse { items }))
    }

    async fn create_container(
        &self,
        request: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        let request = request.into_inner();
        let config = self.config.clone();
        let container_id = blocking(move || {
            let cri = request.config.unwrap_or_default();
            let engine = pods::engine(&config)?;
            let pod = engine
                .pod_find(&request.pod_sandbox_id)
                .map_err(pods::status)?;
            let wanted = cri
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default();
            let store = aurora_store::Store::open(&config.store_root).map_err(internal)?;
            let image = crate::image::find(&store, &wanted)?
                .and_then(|i| i.repo_tags.into_iter().chain(i.repo_digests).next())
                .ok_or_else(|| ApiError::NotFound(format!("image {wanted:?} is not pulled")))?;
            let (container, name) = containers::container_config(
                &pod.id,
                &cri,
                request.sandbox_config.as_ref(),
                image,
            )?;
            let record = engine
                .create(container, Some(&name))
                .map_err(pods::status)?;
            containers::prepare_log(&record)?;
            Ok(record.id)
        })
        .await?;
        Ok(Response::new(CreateContainerResponse { container_id }))
    }

    async fn start_container(
        &self,
        request: Request<StartContainerRequest>,
    ) -> Result<Response<StartContainerResponse>, Status> {
        let id = request.into_inner().container_id;
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            // The log's directory may have gone since the create (kubelet makes it again).
            containers::prepare_log(&engine.find(&id).map_err(pods::status)?)?;
            engine.start(&id, false).map(drop).map_err(pods::status)
        })
        .await?;
        Ok(Response::new(StartContainerResponse {}))
    }

    async fn stop_container(
        &self,
        request: Request<StopContainerRequest>,
    ) -> Result<Response<StopContainerResponse>, Status> {
        let request = request.into_inner();
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            let timeout = u32::try_from(request.timeout.max(0)).unwrap_or(u32::MAX);
            // Stopping a stopped or removed container succeeds: kubelet retries.
            match engine.stop(&request.container_id, Some(timeout)) {
                Ok(_) | Err(EngineError::NoSuchContainer(_)) => Ok(()),
                Err(EngineError::WrongState { .. }) => Ok(()),
                Err(e) => Err(pods::status(e)),
            }
        })
        .await?;
        Ok(Response::new(StopContainerResponse {}))
    }

    async fn remove_container(
        &self,
        request: Request<RemoveContainerRequest>,
    ) -> Result<Response<RemoveContainerResponse>, Status> {
        let id = request.into_inner().container_id;
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            match engine.remove(&id, true, true, Some(0)) {
                Ok(_) | Err(EngineError::NoSuchContainer(_)) => Ok(()),
                Err(e) => Err(pods::status(e)),
            }
        })
        .await?;
        Ok(Response::new(RemoveContainerResponse {}))
    }

    async fn list_containers(
        &self,
        request: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        let filter = request.into_inner().filter.unwrap_or_default();
        let config = self.config.clone();
        let containers = blocking(move || {
            let engine = pods::engine(&config)?;
            let records = engine.list().map_err(pods::status)?;
            Ok(records
                .iter()
                .filter(|r| containers::is_cri_container(r) && containers::matches(r, &filter))
                .map(containers::container)
                .collect())
        })
        .await?;
        Ok(Response::new(ListContainersResponse { containers }))
    }

    async fn container_status(
        &self,
        request: Request<ContainerStatusRequest>,
    ) -> Result<Response<ContainerStatusResponse>, Status> {
        let id = request.into_inner().container_id;
        let config = self.config.clone();
        let status = blocking(move || {
            let engine = pods::engine(&config)?;
            let record = engine.find(&id).map_err(pods::status)?;
            Ok(containers::status(&engine, &record))
        })
        .await?;
        Ok(Response::new(ContainerStatusResponse {
            status: Some(status),
            ..Default::default()
        }))
    }

    async fn exec_sync(
        &self,
        request: Request<ExecSyncRequest>,
    ) -> Result<Response<ExecSyncResponse>, Status> {
        let request = request.into_inner();
        let config = self.config.clone();
        let response = blocking(move || {
            let engine = pods::engine(&config)?;
            crate::exec::exec_sync(&engine, &request)
        })
        .await?;
        Ok(Response::new(response))
    }

    async fn update_runtime_config(
        &self,
        _request: Request<UpdateRuntimeConfigRequest>,
    ) -> Result<Response<UpdateRuntimeConfigResponse>, Status> {
        // kubelet sends the pod CIDR here; networks come from the configured plugin.
        Ok(Response::new(UpdateRuntimeConfigResponse {}))
    }

    async fn reopen_container_log(
        &self,
        request: Request<ReopenContainerLogRequest>,
    ) -> Result<Response<ReopenContainerLogResponse>, Status> {
        // kubelet has moved the log away (its rotation): the monitor opens the path again.
        let id = request.into_inner().container_id;
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            engine.reopen_log(&id).map_err(|e| match e {
                aurora_engine::EngineError::Invalid { message, .. } => {
                    ApiError::InvalidArgument(format!("container {id}: {message}"))
                }
                other => pods::status(other),
            })
        })
        .await?;
        Ok(Response::new(ReopenContainerLogResponse {}))
    }

    async fn container_stats(
        &self,
        request: Request<ContainerStatsRequest>,
    ) -> Result<Response<ContainerStatsResponse>, Status> {
        let id = request.into_inner().container_id;
        let config = self.config.clone();
        let stats = blocking(move || {
            let engine = pods::engine(&config)?;
            let record = engine.find(&id).map_err(pods::status)?;
            Ok(containers::stats(&engine, &record))
        })
        .await?;
        Ok(Response::new(ContainerStatsResponse { stats: Some(stats) }))
    }

    async fn list_container_stats(
        &self,
        request: Request<ListContainerStatsRequest>,
    ) -> Result<Response<ListContainerStatsResponse>, Status> {
        let filter = request.into_inner().filter.unwrap_or_default();
        let config = self.config.clone();
        let stats = blocking(move || {
            let engine = pods::engine(&config)?;
            let records = engine.list().map_err(pods::status)?;
            let wanted = ContainerFilter {
                id: filter.id,
                pod_sandbox_id: filter.pod_sandbox_id,
                label_selector: filter.label_selector,
                state: None,
            };
            Ok(records
                .iter()
                .filter(|r| containers::is_cri_container(r) && containers::matches(r, &wanted))
                .map(|r| containers::stats(&engine, r))
                .collect())
        })
        .await?;
        Ok(Response::new(ListContainerStatsResponse { stats }))
    }

    type GetContainerEventsStream = tokio_stream::Empty<Result<ContainerEventResponse, Status>>;

    async fn get_container_events(
        &self,
        _request: Request<GetEventsRequest>,
    ) -> Result<Response<Self::GetContainerEventsStream>, Status> {
        Err(not_yet("get_container_events"))
    }

    async fn update_container_resources(
        &self,
        request: Request<UpdateContainerResourcesRequest>,
    ) -> Result<Response<UpdateContainerResourcesResponse>, Status> {
        let request = request.into_inner();
        let config = self.config.clone();
        blocking(move || {
            let engine = pods::engine(&config)?;
            let resources = crate::security::resources(request.linux.as_ref());
            engine
                .update(&request.container_id, &resources)
                .map_err(pods::status)?;
            Ok(())
        })
        .await?;
        Ok(Response::new(UpdateContainerResourcesResponse {}))
    }

    /// A URL on the streaming server where the command runs once a client connects.
    async fn exec(&self, request: Request<ExecRequest>) -> Result<Response<ExecResponse>, Status> {
        let request = request.into_inner();
        let server = self.streaming_for(Some(&request.container_id)).await?;
        let response = server
            .get_exec(&request)
            .map_err(crate::streaming::status)?;
        Ok(Response::new(response))
    }

    /// A URL on the streaming server joined to the container's streams once a client connects.
    async fn attach(
        &self,
        request: Request<AttachRequest>,
    ) -> Result<Response<AttachResponse>, Status> {
        let request = request.into_inner();
        let server = self.streaming_for(Some(&request.container_id)).await?;
        let response = server
            .get_attach(&request)
            .map_err(crate::streaming::status)?;
        Ok(Response::new(response))
    }

    /// A URL on the streaming server forwarding to the pod's ports once a client connects.
    async fn port_forward(
        &self,
        request: Request<PortForwardRequest>,
    ) -> Result<Response<PortForwardResponse>, Status> {
        let request = request.into_inner();
        let server = self.streaming_for(None).await?;
        let response = server
            .get_port_forward(&request)
            .map_err(crate::streaming::status)?;
        Ok(Response::new(response))
    }

    async fn pod_sandbox_stats(
        &self,
        request: Request<PodSandboxStatsRequest>,
    ) -> Result<Response<PodSandboxStatsResponse>, Status> {
        let id = request.into_inner().pod_sandbox_id;
        let config = self.config.clone();
        let stats = blocking(move || {
            let engine = pods::engine(&config)?;
            let pod = engine.pod_find(&id).map_err(pods::status)?;
            crate::pod_stats::pod_stats(&engine, &pod)
        })
        .await?;
        Ok(Response::new(PodSandboxStatsResponse {
            stats: Some(stats),
        }))
    }

    async fn list_pod_sandbox_stats(
        &self,
        request: Request<ListPodSandboxStatsRequest>,
    ) -> Result<Response<ListPodSandboxStatsResponse>, Status> {
        let filter = request.into_inner().filter.unwrap_or_default();
        let config = self.config.clone();
        let stats = blocking(move || {
            let engine = pods::engine(&config)?;
            let pods = engine.pod_list().map_err(pods::status)?;
            pods.iter()
                .filter(|pod| pods::is_cri_pod(pod) && crate::pod_stats::matches(pod, &filter))
                .map(|pod| crate::pod_stats::pod_stats(&engine, pod))
                .collect()
        })
        .await?;
        Ok(Response::new(ListPodSandboxStatsResponse { stats }))
    }

    async fn checkpoint_container(
        &self,
        _request: Request<CheckpointContainerRequest>,
    ) -> Result<Response<CheckpointContainerResponse>, Status> {
        Err(not_yet("checkpoint_container"))
    }

    async fn list_metric_descriptors(
        &self,
        _request: Request<ListMetricDescriptorsRequest>,
    ) -> Result<Response<ListMetricDescriptorsResponse>, Status> {
        Err(not_yet("list_metric_descriptors"))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _request: Request<ListPodSandboxMetricsRequest>,
    ) -> Result<Response<ListPodSandboxMetricsResponse>, Status> {
        Err(not_yet("list_pod_sandbox_metrics"))
    }

    async fn runtime_config(
        &self,
        _request: Request<RuntimeConfigRequest>,
    ) -> Result<Response<RuntimeConfigResponse>, Status> {
        // The engine places cgroups itself under cgroupfs paths (no systemd here).
        Ok(Response::new(RuntimeConfigResponse {
            linux: Some(k8s_cri::v1::LinuxRuntimeConfiguration {
                cgroup_driver: k8s_cri::v1::CgroupDriver::Cgroupfs as i32,
            }),
        }))
    }
}
