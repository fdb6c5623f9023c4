"""The stack CloudFormation would create, for each combination of parameters that matters.

template.yaml is expanded offline (AWS::LanguageExtensions, then the SAM translator) and read
with its conditions evaluated (tests/build/stack.py, where the combinations are listed).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.build.stack import COMBINATIONS, PLACEHOLDER, READER_HOST, SECRET, SLACK, STACK_NAME, Stack

# Functions that never touch the database.
OUTSIDE_THE_DATABASE = {"SlackNotifierFunction"}
# Queued, the ingest function only sends to its queue.
OUTSIDE_THE_DATABASE_WHEN_QUEUED = {"SlackNotifierFunction", "IngestFunction"}
SENDING_TO_A_QUEUE = {"sqs:SendMessage*", "sqs:ChangeMessageVisibility*", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
# Their calls leave through Lambda's own network, not the function's interface in the VPC:
# logs (and the EMF metrics in them) and X-Ray segments are shipped by Lambda itself, and the
# network interfaces are created by the Lambda service.
SHIPPED_BY_LAMBDA = {"logs", "xray", "ec2"}
# Actions AWS cannot scope to a resource, so "*" is the narrowest Resource they take.
UNSCOPABLE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "ec2:CreateNetworkInterface"}


@pytest.fixture(params=list(COMBINATIONS))
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[request.param]


def creates_database(stack: Stack) -> bool:
    return not stack.given.get("DatabaseSecretArn")


def uses_proxy(stack: Stack) -> bool:
    return stack.given.get("UseRdsProxy") == "true"


def queued(stack: Stack) -> bool:
    return stack.given.get("IngestMode") == "queued"


def outside_the_database(stack: Stack) -> set[str]:
    return OUTSIDE_THE_DATABASE_WHEN_QUEUED if queued(stack) else OUTSIDE_THE_DATABASE


def polled_queues(stack: Stack, function_id: str) -> list[dict[str, Any]]:
    """The SQS event source mappings of a function: Lambda polls those queues with its role, outside its VPC."""
    return [
        r["Properties"]
        for r in stack.of_type("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": function_id}
    ]


def names(stack: Stack, node: Any) -> set[str]:
    """Every name a value refers to: resources, parameters and pseudo parameters."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref":
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            else:
                found |= names(stack, arg)
    elif isinstance(node, list):
        for item in node:
            found |= names(stack, item)
    elif isinstance(node, str):
        found.update(PLACEHOLDER.findall(node))
    return found


def test_every_reference_names_something_that_exists(stack: Stack) -> None:
    known = set(stack.resources) | set(stack.parameters)
    for logical_id, resource in stack.resources.items():
        missing = {n for n in names(stack, resource.get("Properties", {})) if not n.startswith("AWS::")} - known
        depends = resource.get("DependsOn", [])
        missing |= set([depends] if isinstance(depends, str) else depends) - known
        # Fn::Sub's own variables (${secretArn} and the like) are declared beside the string.
        missing = {n for n in missing if n[0].isupper()}
        assert not missing, f"{stack.name}: {logical_id} refers to {missing}, which this combination does not create"
    assert not {n for n in names(stack, stack.outputs) if not n.startswith("AWS::")} - known


def test_the_stack_creates_a_database_and_its_network_exactly_when_none_is_given(stack: Stack) -> None:
    created = {
        kind: len(stack.of_type(kind))
        for kind in ("AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::EC2::VPC", "AWS::EC2::Subnet")
    }
    if creates_database(stack):
        assert created == {
            "AWS::RDS::DBCluster": 1,
            "AWS::RDS::DBInstance": 2 if stack.given.get("UseDatabaseReader") == "true" else 1,
            "AWS::EC2::VPC": 1,
            "AWS::EC2::Subnet": 2,
        }
        cluster = stack.props("DatabaseCluster")
        assert cluster["Engine"] == "aurora-postgresql"
        assert cluster["EngineVersion"].startswith("16.")
        assert cluster["ManageMasterUserPassword"] is True
        assert cluster["StorageEncrypted"] is True
        assert "MasterUserPassword" not in cluster
        assert stack.props("DatabaseInstance")["DBInstanceClass"] == "db.serverless"
        assert stack.props("DatabaseInstance")["PubliclyAccessible"] is False
        zones = [
            stack.props(s).get("AvailabilityZoneId") or stack.props(s)["AvailabilityZone"]
            for s in ("PrivateSubnetA", "PrivateSubnetB")
        ]
        assert zones[0] != zones[1], "two subnets in two zones"
    else:
        assert set(created.values()) == {0}
        assert not stack.of_type("AWS::EC2::VPCEndpoint")
        assert not stack.of_type("AWS::EC2::SecurityGroup")


def test_serverless_capacity_and_pause_follow_the_parameters(stack: Stack) -> None:
    if not creates_database(stack):
        return
    scaling = stack.props("DatabaseCluster")["ServerlessV2ScalingConfiguration"]
    minimum = stack.parameters["DatabaseMinCapacity"]
    assert str(scaling["MinCapacity"]) == minimum
    assert str(scaling["MaxCapacity"]) == stack.parameters["DatabaseMaxCapacity"]
    assert ("SecondsUntilAutoPause" in scaling) == (float(minimum) == 0)


def test_the_clusters_storage_type_follows_its_parameter(stack: Stack) -> None:
    if not creates_database(stack):
        return
    assert stack.props("DatabaseCluster")["StorageType"] == stack.parameters["DatabaseStorageType"]
    assert stack.parameters["DatabaseStorageType"] in ("aurora", "aurora-iopt1")


def test_prod_protects_its_database_and_every_stage_snapshots_it_on_delete(stack: Stack) -> None:
    if not creates_database(stack):
        return
    cluster = stack.resources["DatabaseCluster"]
    prod = stack.parameters["Stage"] == "prod"
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert cluster["Properties"]["DeletionProtection"] is prod
    assert cluster["Properties"]["BackupRetentionPeriod"] == (14 if prod else 7)


def test_functions_run_where_the_database_is_and_slack_outside_any_vpc(stack: Stack) -> None:
    given_subnets = [s for s in stack.parameters["SubnetIds"] if s]
    for logical_id, function in stack.functions.items():
        vpc = function["Properties"].get("VpcConfig")
        if logical_id in outside_the_database(stack) or not (creates_database(stack) or given_subnets):
            assert vpc is None, f"{stack.name}: {logical_id} should not be in a VPC"
        elif creates_database(stack):
            assert vpc == {
                "SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
                "SecurityGroupIds": [{"Ref": "FunctionSecurityGroup"}],
            }
        else:
            assert vpc == {"SubnetIds": given_subnets, "SecurityGroupIds": stack.parameters["SecurityGroupIds"]}


def aws_services_called(stack: Stack, function_id: str) -> set[str]:
    """Service prefixes of the actions the function's role allows (inline and the stack's own policies)."""
    role_id = stack.functions[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = stack.props(role_id)
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    documents += [stack.props(ref["Ref"])["PolicyDocument"] for ref in role["ManagedPolicyArns"] if "Ref" in ref]
    actions = {a for doc in documents for s in doc["Statement"] for a in _list(s["Action"])}
    services = {action.split(":")[0] for action in actions}
    if polled_queues(stack, function_id):
        # The event source mapping receives and deletes the messages; the function never calls SQS.
        services.discard("sqs")
    if any(function_id in stack.references(r["Properties"].get("ServiceToken")) for r in custom_resources(stack)):
        # A custom resource's provider answers CloudFormation on a pre-signed S3 URL.
        services.add("s3")
    return services


def custom_resources(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.resources.values() if r["Type"].startswith("Custom::")]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_in_the_created_network_every_function_reaches_what_it_calls_without_nat(stack: Stack) -> None:
    if not creates_database(stack):
        return
    assert not stack.of_type("AWS::EC2::NatGateway")
    assert not stack.of_type("AWS::EC2::InternetGateway")
    assert not stack.of_type("AWS::EC2::Route"), "no route leaves the private subnets"
    endpoints = {}
    for endpoint in stack.of_type("AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        name = props["ServiceName"]
        service = (name if isinstance(name, str) else name["Fn::Sub"]).rsplit(".", 1)[1]
        endpoints[service] = props
        if props["VpcEndpointType"] == "Interface":
            assert props["PrivateDnsEnabled"] is True
            assert props["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
            assert props["SecurityGroupIds"] == [{"Ref": "EndpointSecurityGroup"}]
        else:
            assert props["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    in_vpc = [f for f, r in stack.functions.items() if r["Properties"].get("VpcConfig")]
    assert len(in_vpc) == len(stack.functions) - len(outside_the_database(stack))
    for function_id in in_vpc:
        needed = aws_services_called(stack, function_id) - SHIPPED_BY_LAMBDA
        assert needed <= set(endpoints), f"{stack.name}: {function_id} calls {needed - set(endpoints)} without a route"
    admitted = stack.props("EndpointSecurityGroup")["SecurityGroupIngress"]
    assert admitted == [
        {
            "Description": "HTTPS from the functions",
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupId": {"Ref": "FunctionSecurityGroup"},
        }
    ]


def test_the_database_admits_only_the_functions_and_the_proxy(stack: Stack) -> None:
    if not creates_database(stack):
        return
    assert "SecurityGroupIngress" not in stack.props("DatabaseSecurityGroup")
    sources = {
        r["Properties"]["SourceSecurityGroupId"]["Ref"]
        for r in stack.of_type("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": "DatabaseSecurityGroup"}
    }
    assert sources == (
        {"FunctionSecurityGroup", "ProxySecurityGroup"} if uses_proxy(stack) else {"FunctionSecurityGroup"}
    )
    rules = stack.of_type("AWS::EC2::SecurityGroupIngress").values()
    assert all(rule["Properties"]["FromPort"] == rule["Properties"]["ToPort"] == 5432 for rule in rules)


def test_connection_details_point_at_the_database_or_its_proxy(stack: Stack) -> None:
    for function_id, function in stack.functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        if creates_database(stack):
            assert variables["DATABASE_SECRET_ARN"] == {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
            assert variables["DATABASE_NAME"] == "resilience"
        else:
            assert variables["DATABASE_SECRET_ARN"] == SECRET
            assert variables["DATABASE_NAME"] == ""
        direct = {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]} if creates_database(stack) else ""
        if function_id == "MigrateFunction" or not uses_proxy(stack):
            # The migration holds a session lock: straight to the database, never through the proxy.
            assert variables["DATABASE_HOST"] == direct, function_id
        else:
            assert variables["DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}, function_id
        assert variables["DATABASE_URL"] == "", "only `sam local invoke` sets it"


def test_an_rds_proxy_exists_only_when_asked_for_and_reads_only_the_database_secret(stack: Stack) -> None:
    proxies = stack.of_type("AWS::RDS::DBProxy")
    if not uses_proxy(stack):
        assert not proxies
        return
    proxy = stack.props("DatabaseProxy")
    secret = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]} if creates_database(stack) else SECRET
    assert proxy["Auth"][0]["SecretArn"] == secret
    assert proxy["RequireTLS"] is True
    statements = stack.props("DatabaseProxyRole")["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements == [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}]
    targets = stack.props("DatabaseProxyTargets")
    if creates_database(stack):
        assert targets["DBClusterIdentifiers"] == [{"Ref": "DatabaseCluster"}]
        assert proxy["VpcSecurityGroupIds"] == [{"Ref": "ProxySecurityGroup"}]
    else:
        if stack.given.get("ProxyTargetInstance"):
            assert targets["DBInstanceIdentifiers"] == [stack.given["ProxyTargetInstance"]]
        else:
            assert targets["DBClusterIdentifiers"] == [stack.given["ProxyTargetCluster"]]
        assert proxy["VpcSubnetIds"] == stack.parameters["SubnetIds"]
    # Pooled connections start in UTC, so no function has to SET it and pin its session.
    assert "UTC" in targets["ConnectionPoolConfigurationInfo"]["InitQuery"]


def test_routes_and_schedules_go_live_only_after_the_migration(stack: Stack) -> None:
    waiting = {
        logical_id
        for logical_id, resource in stack.resources.items()
        if resource["Type"] in ("AWS::ApiGatewayV2::Api", "AWS::Events::Rule", "AWS::Lambda::Permission")
    }
    waiting |= {f for f in stack.functions if f not in ("MigrateFunction", "SlackNotifierFunction")}
    assert len(waiting) > 10
    for logical_id in waiting:
        if logical_id.startswith("SlackNotifierFunction"):
            continue
        assert "DatabaseMigration" in stack.dependencies(logical_id), f"{logical_id} can go live before the schema"


def test_the_migration_waits_for_what_it_needs_and_fails_in_minutes(stack: Stack) -> None:
    migration = stack.props("DatabaseMigration")
    assert 0 < migration["ServiceTimeout"] <= 900
    needs = {"MigrateFunction", "MigrateFunctionLogs", "CommonLayer"}
    if creates_database(stack):
        needs |= {
            "DatabaseInstance",
            "SecretsManagerEndpoint",
            "S3Endpoint",
            "FunctionsToDatabase",
            "DatabaseFromFunctions",
        }
    if uses_proxy(stack):
        needs.add("DatabaseProxyTargets")
    if uses_proxy(stack) and creates_database(stack):
        # Not the migration's needs, but the functions that wait for it go through the proxy.
        needs |= {"FunctionsToProxy", "DatabaseFromProxy"}
    have = stack.dependencies("DatabaseMigration")
    # The layer's logical id carries a content hash.
    have |= {"CommonLayer" for d in have if d.startswith("CommonLayer")}
    assert needs <= have, f"{stack.name}: the migration may run before {needs - have}"


def test_every_function_logs_into_its_own_log_group_created_before_it(stack: Stack) -> None:
    for function_id, function in stack.functions.items():
        assert function["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": f"{function_id}Logs"}}
        group = stack.resources[f"{function_id}Logs"]
        assert str(group["Properties"]["RetentionInDays"]) == stack.parameters["LogRetentionDays"]
        assert group["DeletionPolicy"]
        assert group["UpdateReplacePolicy"]
        assert f"{function_id}Logs" in stack.dependencies(function_id)


def test_every_function_has_errors_and_throttles_alarms_for_the_ops_topic(stack: Stack) -> None:
    alarmed: dict[str, set[str]] = {}
    for alarm in stack.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OpsTopic"}]
        if props.get("Namespace") == "AWS/Lambda":
            (dimension,) = props["Dimensions"]
            alarmed.setdefault(dimension["Value"]["Ref"], set()).add(props["MetricName"])
    assert alarmed == {key: {"Errors", "Throttles"} for key in stack.functions}


def test_the_service_alarms_watch_what_stops_silently(stack: Stack) -> None:
    alarms = {
        r["Properties"].get("MetricName"): r["Properties"] for r in stack.of_type("AWS::CloudWatch::Alarm").values()
    }
    heartbeat = alarms["AlertEvaluationHeartbeat"]
    assert heartbeat["TreatMissingData"] == alarms["RollupLagSeconds"]["TreatMissingData"] == "breaching"
    # The stack's name, which the functions publish as their service (POWERTOOLS_SERVICE_NAME).
    assert heartbeat["Dimensions"] == [{"Name": "service", "Value": STACK_NAME}]
    service = {f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] for f in stack.functions.values()}
    assert service == {STACK_NAME}
    dead_letter_queues = {
        r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for r in stack.of_type("AWS::CloudWatch::Alarm").values()
        if r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert dead_letter_queues == {"SlackNotifierDeadLetters", "IngestDeadLetters"}
    assert alarms["ApproximateAgeOfOldestMessage"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["IngestQueue", "QueueName"]
    }
    api = stack.props("ApiServerErrorsAlarm")["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in api if "MetricStat" in m} == {"5xx", "Count"}
    assert ("ACUUtilization" in alarms and "DatabaseConnections" in alarms) == creates_database(stack)


def test_every_function_reads_only_the_secrets_it_needs(stack: Stack) -> None:
    for policy in [*stack.of_type("AWS::IAM::ManagedPolicy").values(), *stack.of_type("AWS::IAM::Role").values()]:
        props = policy["Properties"]
        documents = [props["PolicyDocument"]] if "PolicyDocument" in props else []
        documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for statement in (s for doc in documents for s in doc["Statement"]):
            if statement["Resource"] == "*" or "*" in _list(statement["Resource"]):
                assert set(_list(statement["Action"])) <= UNSCOPABLE, statement
    slack_role = stack.props("SlackNotifierFunctionRole")
    reads_slack = any(
        "secretsmanager:GetSecretValue" in _list(s["Action"])
        for p in slack_role.get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
    )
    assert reads_slack == (stack.given.get("SlackWebhookSecretArn") == SLACK)


def test_one_email_subscription_per_address(stack: Stack) -> None:
    for prefix, topic, parameter in (("AlertSub", "AlertTopic", "AlertEmails"), ("OpsSub", "OpsTopic", "OpsEmails")):
        subscriptions = {
            r["Properties"]["Endpoint"]
            for k, r in stack.of_type("AWS::SNS::Subscription").items()
            if k.startswith(prefix) and r["Properties"]["TopicArn"] == {"Ref": topic}
        }
        assert subscriptions == {a for a in stack.parameters[parameter] if a}


def test_the_admin_token_is_generated_unless_given_and_the_output_says_where(stack: Stack) -> None:
    given = stack.given.get("AdminTokenSecretArn")
    secrets = stack.of_type("AWS::SecretsManager::Secret")
    if given:
        assert not secrets
        assert stack.outputs["AdminTokenSecretArn"] == given
    else:
        assert stack.props("AdminTokenSecret")["GenerateSecretString"]["PasswordLength"] >= 32
        assert stack.outputs["AdminTokenSecretArn"] == {"Ref": "AdminTokenSecret"}
    assert "get-secret-value" in stack.template["Outputs"]["AdminTokenSecretArn"]["Description"]
    variables = stack.functions["MetricsQueryFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ADMIN_TOKEN_SECRET_ARN"] == stack.outputs["AdminTokenSecretArn"]
    assert variables["ADMIN_TOKEN"] == ""


def test_ingest_concurrency_is_capped_unless_asked_not_to_be(stack: Stack) -> None:
    cap = stack.functions["IngestFunction"]["Properties"].get("ReservedConcurrentExecutions")
    wanted = stack.parameters["IngestReservedConcurrency"]
    assert (None if cap is None else str(cap)) == (None if wanted == "0" else wanted)


def test_the_api_logs_every_request_as_json_and_throttles(stack: Stack) -> None:
    (stage,) = stack.of_type("AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]
    assert settings["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    fields = json.loads(settings["AccessLogSettings"]["Format"])
    assert {"requestId", "status", "route", "latency", "integrationError"} <= set(fields)
    throttling = {k: str(v) for k, v in settings["DefaultRouteSettings"].items()}
    assert throttling == {
        "ThrottlingBurstLimit": stack.parameters["ApiThrottlingBurstLimit"],
        "ThrottlingRateLimit": stack.parameters["ApiThrottlingRateLimit"],
    }


def test_the_operations_dashboard_is_json_naming_this_stacks_resources(stack: Stack) -> None:
    body = stack.props("OperationsDashboard")["DashboardBody"]
    text = body if isinstance(body, str) else json.dumps(body)
    widgets = json.loads(text)["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert {"Events accepted, rejected and duplicate", "API latency (ms)", "Errors"} <= set(titles)
    assert sum("per component" in t for t in titles) == 3
    assert ("Database capacity (ACU) and connections" in titles) == creates_database(stack)
    errors = next(w for w in widgets if w["properties"]["title"] == "Errors")["properties"]["metrics"]
    graphed = {m[3] for m in errors if m[:2] == ["AWS/Lambda", "Errors"]}
    assert graphed == {"${" + name + "}" for name in stack.functions}, "every function's errors are graphed"
    assert set(PLACEHOLDER.findall(text)) <= set(stack.resources)


def test_ingest_stores_directly_or_only_sends_to_its_queue(stack: Stack) -> None:
    ingest = stack.functions["IngestFunction"]["Properties"]
    variables = ingest["Environment"]["Variables"]
    assert variables["INGEST_MODE"] == ("queued" if queued(stack) else "direct")
    assert variables["INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    role = stack.props(ingest["Role"]["Fn::GetAtt"][0])
    own_policies = {ref["Ref"] for ref in role["ManagedPolicyArns"] if "Ref" in ref}
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    # Reading the ingest tokens' secret, when one is given, is held by test_forged_traffic_stack.py.
    token_secret = stack.given.get("IngestTokenSecretArn")
    statements = [s for s in statements if not token_secret or token_secret not in json.dumps(s["Resource"])]
    if queued(stack):
        assert "DatabaseSecretRead" not in own_policies, "queued, ingest never signs in to the database"
        (send,) = statements
        # SAM's SQSSendMessagePolicy: sending (SendMessage* covers SendMessageBatch) and reading the queue's details.
        assert set(_list(send["Action"])) <= SENDING_TO_A_QUEUE
        assert "IngestQueue" in stack.references(send["Resource"])
    else:
        assert "DatabaseSecretRead" in own_policies
        assert not statements


def test_the_writer_drains_the_queue_in_large_batches_with_bounded_connections(stack: Stack) -> None:
    (mapping,) = polled_queues(stack, "IngestWriterFunction")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert mapping["BatchSize"] >= 100
    assert mapping["MaximumBatchingWindowInSeconds"] >= 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert str(mapping["ScalingConfig"]["MaximumConcurrency"]) == stack.parameters["IngestWriterConcurrency"]
    writer = stack.functions["IngestWriterFunction"]["Properties"]
    queue = stack.props("IngestQueue")
    # Lambda's advice: a visibility timeout of six times the function's timeout, so a batch still being
    # written is not delivered to a second writer.
    assert queue["VisibilityTimeout"] >= 6 * writer["Timeout"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["IngestDeadLetters", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["SqsManagedSseEnabled"] is True
    assert stack.props("IngestDeadLetters")["MessageRetentionPeriod"] == 1209600
    # The queue and its writer exist in either mode: going back to direct never deletes a backlog.
    assert "IngestQueue" in stack.resources
    assert "DatabaseMigration" in stack.dependencies("IngestWriterFunction")


def test_the_admin_api_reads_from_the_reader_when_there_is_one(stack: Stack) -> None:
    variables = stack.functions["MetricsQueryFunction"]["Properties"]["Environment"]["Variables"]
    if stack.given.get("UseDatabaseReader") == "true":
        assert variables["DATABASE_READER_HOST"] == {"Fn::GetAtt": ["DatabaseCluster", "ReadEndpoint.Address"]}
        reader = stack.props("DatabaseReaderInstance")
        assert reader["DBInstanceClass"] == "db.serverless"
        assert reader["DBClusterIdentifier"] == {"Ref": "DatabaseCluster"}
    else:
        assert variables["DATABASE_READER_HOST"] == stack.given.get("DatabaseReaderHost", "")
        assert "DatabaseReaderInstance" not in stack.resources
    assert variables["DATABASE_READER_URL"] == "", "only `sam local invoke` sets it"
    others = {f: r for f, r in stack.functions.items() if f != "MetricsQueryFunction"}
    assert not [f for f, r in others.items() if "DATABASE_READER_HOST" in r["Properties"]["Environment"]["Variables"]]


def test_a_reader_host_given_is_the_one_used(stack: Stack) -> None:
    if stack.given.get("DatabaseReaderHost"):
        variables = stack.functions["MetricsQueryFunction"]["Properties"]["Environment"]["Variables"]
        assert variables["DATABASE_READER_HOST"] == READER_HOST


def test_cloudformation_invokes_the_migration_once_with_no_async_retries(stack: Stack) -> None:
    # The custom resource's ServiceToken is the unqualified function: its invoke config is $LATEST's.
    assert stack.props("DatabaseMigration")["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    (config,) = [
        c["Properties"]
        for c in stack.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": "MigrateFunction"}
    ]
    assert config["Qualifier"] == "$LATEST"
    assert config["MaximumRetryAttempts"] == 0


def test_every_combination_passes_the_templates_rules(stack: Stack) -> None:
    assert stack.broken_rules() == []


def with_parameters(stacks: dict[str, Stack], given: dict[str, str]) -> Stack:
    """The defaults' template read with other parameters: enough to evaluate its Rules."""
    return Stack("rules", given, stacks["defaults"].template)


def test_auto_pause_is_refused_with_an_engine_version_that_cannot_pause(stacks: dict[str, Stack]) -> None:
    (refused,) = with_parameters(stacks, {"DatabaseMinCapacity": "0", "DatabaseEngineVersion": "16.2"}).broken_rules()
    assert refused.startswith("PausingNeedsAnEngineThatPauses:")
    assert with_parameters(stacks, {"DatabaseMinCapacity": "0.5", "DatabaseEngineVersion": "16.2"}).broken_rules() == []
    # The default version pauses: DatabaseMinCapacity 0 alone is a working stack.
    assert with_parameters(stacks, {"DatabaseMinCapacity": "0"}).broken_rules() == []


def test_zone_ids_are_refused_with_a_given_database(stacks: dict[str, Stack]) -> None:
    given = {"AvailabilityZoneIds": "use1-az1,use1-az4", "DatabaseSecretArn": SECRET}
    (refused,) = with_parameters(stacks, given).broken_rules()
    assert refused.startswith("ZonesOfTheCreatedNetwork:")


def test_the_created_subnets_sit_in_the_zones_given_by_id_or_else_the_regions_first_two(stack: Stack) -> None:
    if not creates_database(stack):
        assert "PrivateSubnetA" not in stack.resources
        return
    given = [z for z in stack.parameters["AvailabilityZoneIds"] if z]
    for index, subnet in enumerate(("PrivateSubnetA", "PrivateSubnetB")):
        props = stack.props(subnet)
        if given:
            assert props["AvailabilityZoneId"] == given[index]
            assert "AvailabilityZone" not in props
        else:
            assert props["AvailabilityZone"] == {"Fn::Select": [index, {"Fn::GetAZs": ""}]}
            assert "AvailabilityZoneId" not in props
