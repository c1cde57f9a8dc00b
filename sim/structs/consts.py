"""Nomad's enum strings and messages, exactly as Nomad spells them.

Nomad: nomad/structs/structs.go, alloc.go, eval.go, deployment.go; scheduler/structs/const.go.
"""

# Job types and statuses.
JOB_TYPE_SERVICE = "service"
JOB_TYPE_BATCH = "batch"
JOB_TYPE_SYSTEM = "system"
JOB_TYPE_SYSBATCH = "sysbatch"
JOB_TYPE_CORE = "_core"
JOB_TYPES = (JOB_TYPE_SERVICE, JOB_TYPE_BATCH, JOB_TYPE_SYSTEM, JOB_TYPE_SYSBATCH)
JOB_STATUS_PENDING = "pending"
JOB_STATUS_RUNNING = "running"
JOB_STATUS_DEAD = "dead"
JOB_MIN_PRIORITY = 1
JOB_DEFAULT_PRIORITY = 50
JOB_DEFAULT_MAX_PRIORITY = 100
JOB_DEFAULT_MAX_COUNT = 50000
JOB_TRACKED_VERSIONS = 6

# Allocation statuses.
ALLOC_DESIRED_RUN = "run"
ALLOC_DESIRED_STOP = "stop"
ALLOC_DESIRED_EVICT = "evict"
ALLOC_CLIENT_PENDING = "pending"
ALLOC_CLIENT_RUNNING = "running"
ALLOC_CLIENT_COMPLETE = "complete"
ALLOC_CLIENT_FAILED = "failed"
ALLOC_CLIENT_LOST = "lost"
ALLOC_CLIENT_UNKNOWN = "unknown"
CLIENT_TERMINAL = frozenset({ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST})
SERVER_TERMINAL = frozenset({ALLOC_DESIRED_STOP, ALLOC_DESIRED_EVICT})

# Task states and event types (nomad/structs/structs.go TaskState, TaskEvent).
TASK_STATE_PENDING = "pending"
TASK_STATE_RUNNING = "running"
TASK_STATE_DEAD = "dead"
TASK_RECEIVED = "Received"
TASK_SETUP = "Task Setup"
TASK_DRIVER_MESSAGE = "Driver"
TASK_STARTED = "Started"
TASK_DRIVER_FAILURE = "Driver Failure"
REASON_UNRECOVERABLE = "Error was unrecoverable"
TASK_TERMINATED = "Terminated"
TASK_RESTARTING = "Restarting"
TASK_NOT_RESTARTING = "Not Restarting"
TASK_KILLING = "Killing"
TASK_KILLED = "Killed"
TASK_SIBLING_FAILED = "Sibling Task Failed"
TASK_BUILDING_TASK_DIR = "Building Task Directory"

# Evaluation statuses and triggers.
EVAL_STATUS_BLOCKED = "blocked"
EVAL_STATUS_PENDING = "pending"
EVAL_STATUS_COMPLETE = "complete"
EVAL_STATUS_FAILED = "failed"
EVAL_STATUS_CANCELLED = "canceled"
EVAL_TERMINAL = frozenset({EVAL_STATUS_COMPLETE, EVAL_STATUS_FAILED, EVAL_STATUS_CANCELLED})
TRIGGER_JOB_REGISTER = "job-register"
TRIGGER_JOB_DEREGISTER = "job-deregister"
TRIGGER_PERIODIC_JOB = "periodic-job"
TRIGGER_NODE_DRAIN = "node-drain"
TRIGGER_NODE_UPDATE = "node-update"
TRIGGER_ALLOC_STOP = "alloc-stop"
TRIGGER_SCHEDULED = "scheduled"
TRIGGER_ROLLING_UPDATE = "rolling-update"
TRIGGER_DEPLOYMENT_WATCHER = "deployment-watcher"
TRIGGER_FAILED_FOLLOW_UP = "failed-follow-up"
TRIGGER_MAX_PLANS = "max-plan-attempts"
TRIGGER_RETRY_FAILED_ALLOC = "alloc-failure"
TRIGGER_QUEUED_ALLOCS = "queued-allocs"
TRIGGER_PREEMPTION = "preemption"
TRIGGER_JOB_SCALING = "job-scaling"
TRIGGER_ALLOC_RESCHEDULE = "alloc-reschedule"

# Deployment statuses and descriptions (nomad/structs/deployment.go).
DEPLOYMENT_RUNNING = "running"
DEPLOYMENT_PAUSED = "paused"
DEPLOYMENT_FAILED = "failed"
DEPLOYMENT_SUCCESSFUL = "successful"
DEPLOYMENT_CANCELLED = "cancelled"
DEPLOYMENT_ACTIVE = frozenset({DEPLOYMENT_RUNNING, DEPLOYMENT_PAUSED, "blocked", "unblocking", "initializing", "pending"})
DESC_DEPLOYMENT_RUNNING = "Deployment is running"
DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION = "Deployment is running but requires manual promotion"
DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION = "Deployment is running pending automatic promotion"
DESC_DEPLOYMENT_PAUSED = "Deployment is paused"
DESC_DEPLOYMENT_SUCCESSFUL = "Deployment completed successfully"
DESC_DEPLOYMENT_STOPPED_JOB = "Cancelled because job is stopped"
DESC_DEPLOYMENT_NEWER_JOB = "Cancelled due to newer version of job"
DESC_DEPLOYMENT_FAILED_ALLOCATIONS = "Failed due to unhealthy allocations"
DESC_DEPLOYMENT_PROGRESS_DEADLINE = "Failed due to progress deadline"
DESC_DEPLOYMENT_FAILED_BY_USER = "Deployment marked as failed"

# Scheduler alloc descriptions (scheduler/structs/const.go).
ALLOC_NOT_NEEDED = "alloc not needed due to job update"
ALLOC_MIGRATING = "alloc is being migrated"
ALLOC_UPDATING = "alloc is being updated due to job update"
ALLOC_LOST = "alloc is lost since its node is down"
ALLOC_IN_PLACE = "alloc updating in-place"
ALLOC_NODE_TAINTED = "alloc not needed as node is tainted"
ALLOC_RESCHEDULED = "alloc was rescheduled because it failed"
BLOCKED_EVAL_DESC = "created to place remaining allocations"
BLOCKED_EVAL_MAX_PLAN_DESC = "created due to placement conflicts"
RESCHEDULING_FOLLOWUP_EVAL_DESC = "created for delayed rescheduling"

# Node statuses and scheduling eligibility.
NODE_STATUS_INIT = "initializing"
NODE_STATUS_READY = "ready"
NODE_STATUS_DOWN = "down"
NODE_STATUS_DISCONNECTED = "disconnected"
NODE_ELIGIBLE = "eligible"
NODE_INELIGIBLE = "ineligible"

# Update strategy health checks and restart/reschedule enums.
HEALTH_CHECK_CHECKS = "checks"
HEALTH_CHECK_TASK_STATES = "task_states"
HEALTH_CHECK_MANUAL = "manual"
RESTART_MODE_DELAY = "delay"
RESTART_MODE_FAIL = "fail"
DELAY_FUNCTIONS = ("constant", "exponential", "fibonacci")

# Network defaults (nomad/structs/network.go).
DEFAULT_MIN_DYNAMIC_PORT = 20000
DEFAULT_MAX_DYNAMIC_PORT = 32000
MAX_VALID_PORT = 65536

# Scheduling algorithms (SchedulerConfiguration).
SCHEDULER_ALGORITHM_BINPACK = "binpack"
SCHEDULER_ALGORITHM_SPREAD = "spread"

DISPATCH_PAYLOAD_SIZE_LIMIT = 16 * 1024
