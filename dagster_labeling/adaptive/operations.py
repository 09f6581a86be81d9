"""The GraphQL operations the Adaptive client sends: the official SDK's operation names and variables
(``adaptive-sdk`` 0.14.2), with query documents that select the fields our models read."""

_METRIC = "id key name kind description scoringType createdAt"
_MODEL = "id key name online error isExternal providerName isAdapter isTraining createdAt size"
_SERVICE = f"id key name isDefault desiredOnline createdAt model {{ {_MODEL} }}"
_PROJECT = f"id key name description createdAt metrics {{ {_METRIC} }} modelServices {{ {_SERVICE} }}"
_AB_TEST = (f"id key status beginDate endDate scoreType trafficSplit scores hasEnoughScores metric {{ {_METRIC} }} "
            "project { id key name } models { id key name }")
_AB_REPORT = ("report { pValue variants { variant { id key name } interval { start middle end } scores "
              "comparisons { scores wins losses tiesGood tiesBad variant { id key name } } } }")
_DATASET = "id key name createdAt kind records downloadUrl"
_JOB = ("id name status createdAt startedAt endedAt progress error kind artifacts { id name kind status "
        "byproducts { __typename ... on EvaluationByproducts { evalResults { mean min max count "
        "modelService { key name } metric { key name } } } } } recipe { id key name } "
        "details { __typename ... on CustomRecipeJobDetails { args } }")
_COMPLETION = (f"id chatMessages {{ role content }} completion source model {{ id key name }} "
               f"directScores {{ id value details createdAt metric {{ {_METRIC} }} }} "
               "comparisonScores { id createdAt metric { id key name } preferedCompletion { id } "
               "otherCompletion { id } } labels { key value } "
               "createdAt")

OPERATIONS: dict[str, str] = {
    "CreateProject": (f"mutation CreateProject($input: ProjectCreate!) "
                      f"{{ createProject(input: $input) {{ {_PROJECT} }} }}"),
    "DescribeProject": f"query DescribeProject($input: IdOrKey!) {{ project(idOrKey: $input) {{ {_PROJECT} }} }}",
    "ListProjects": f"query ListProjects {{ projects {{ {_PROJECT} }} }}",
    "CreateMetric": (f"mutation CreateMetric($project: IdOrKey!, $input: MetricCreate!) "
                     f"{{ createMetric(project: $project, input: $input) {{ {_METRIC} }} }}"),
    "DescribeMetric": (f"query DescribeMetric($metric: IdOrKey!, $project: IdOrKey!) "
                       f"{{ metric(metricIdOrKey: $metric, projectIdOrKey: $project) {{ {_METRIC} }} }}"),
    "ListMetrics": f"query ListMetrics {{ metrics {{ {_METRIC} }} }}",
    "AddDirectScore": ("mutation AddDirectScore($completionId_0: UUID!, $metricId_0: IdOrKey!, "
                       "$input_0: ScoreAddInput!) { addDirectScore(completionId: $completionId_0, "
                       "metricId: $metricId_0, input: $input_0) { id } }"),
    "CreateAbCampaign": ("mutation CreateAbCampaign($input: AbcampaignCreate!) "
                         "{ createAbCampaign(input: $input) { id key status beginDate } }"),
    "DescribeAbCampaign": (f"query DescribeAbCampaign($input: IdOrKey!) "
                           f"{{ abCampaign(idOrKey: $input) {{ {_AB_TEST} {_AB_REPORT} }} }}"),
    "ListAbCampaigns": (f"query ListAbCampaigns($input: AbCampaignFilter!) "
                        f"{{ abCampaigns(filter: $input) {{ {_AB_TEST} }} }}"),
    "CancelABCampaign": "mutation CancelABCampaign($input: IdOrKey!) { cancelAbCampaign(input: $input) }",
    "ListModels": f"query ListModels($filter: ModelFilter!) {{ models(filter: $filter) {{ {_MODEL} }} }}",
    "DescribeModel": f"query DescribeModel($input: IdOrKey!) {{ model(idOrKey: $input) {{ {_MODEL} }} }}",
    "AddModelsToProject": ("mutation AddModelsToProject($input: AddModelsToProjectInput!) "
                           "{ addModelsToProject(input: $input) { success failures { model reason } } }"),
    "DeployModel": (f"mutation DeployModel($input: DeployModelInput!) "
                    f"{{ deployModel(input: $input) {{ modelService {{ {_SERVICE} }} warnings }} }}"),
    "UpdateModel": (f"mutation UpdateModel($input: UpdateModelService!) "
                    f"{{ updateModelService(input: $input) {{ {_SERVICE} }} }}"),
    "RemoveModelFromProject": ("mutation RemoveModelFromProject($input: RemoveModelFromProjectInput!) "
                               "{ removeModelFromProject(input: $input) }"),
    "LoadDataset": (f"mutation LoadDataset($input: DatasetCreate!, $file: Upload!) "
                    f"{{ createDataset(input: $input, file: $file) {{ {_DATASET} }} }}"),
    "CreateDatasetFromMultipartUpload": (
        "mutation CreateDatasetFromMultipartUpload($input: DatasetCreateFromMultipartUpload!) "
        "{ createDatasetFromMultipartUpload(input: $input) { datasetId status progress error } }"),
    "DatasetUploadProcessingStatus": (
        "query DatasetUploadProcessingStatus($input: DatasetUploadProcessingStatusInput!) "
        "{ datasetUploadProcessingStatus(input: $input) { datasetId status progress error } }"),
    "ListDatasets": f"query ListDatasets($input: IdOrKey!) {{ datasets(project: $input) {{ {_DATASET} }} }}",
    "DescribeDataset": (f"query DescribeDataset($input: IdOrKey!, $project: IdOrKey!) "
                        f"{{ dataset(idOrKey: $input, project: $project) {{ {_DATASET} }} }}"),
    "DeleteDataset": ("mutation DeleteDataset($idOrKey: IdOrKey!, $project: IdOrKey!) "
                      "{ deleteDataset(idOrKey: $idOrKey, project: $project) }"),
    "CreateJob": f"mutation CreateJob($input: JobInput!) {{ createJob(input: $input) {{ {_JOB} }} }}",
    "DescribeJob": f"query DescribeJob($id: UUID!) {{ job(id: $id) {{ {_JOB} }} }}",
    "ListJobs": (f"query ListJobs($page: CursorPageInput!, $filter: ListJobsFilterInput, $order: [OrderPair!]) "
                 f"{{ jobs(page: $page, filter: $filter, order: $order) {{ totalCount nodes {{ {_JOB} }} }} }}"),
    "CancelJob": f"mutation CancelJob($jobId: UUID!) {{ cancelJob(id: $jobId) {{ {_JOB} }} }}",
    "ListInteractions": (f"query ListInteractions($filter: ListCompletionsFilterInput!, $page: CursorPageInput!, "
                         f"$order: [OrderPair!]) {{ completions(filter: $filter, page: $page, order: $order) "
                         f"{{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {_COMPLETION} }} }} }}"),
    "DescribeInteraction": (f"query DescribeInteraction($project: IdOrKey!, $id: UUID!) "
                            f"{{ completion(project: $project, id: $id) {{ {_COMPLETION} }} }}"),
}
