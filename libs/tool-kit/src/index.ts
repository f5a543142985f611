export { UsageError, optionTable, parseStrict, optionalInteger, positiveIntegerList, seconds, definedOnly, type OptionsConfig, type OptionTable } from './args';
export { runClosedLoop, type ClosedLoopOptions, type IssueRequest, type CaseMeasurement, type CpuUsage } from './load-generator';
export {
  percentile,
  LatencyRecorder,
  summarizeLatencies,
  throughput,
  ratio,
  coresBusy,
  cpuMsPerThousandRows,
  type LatencySummary,
  type Throughput,
} from './stats';
export { processCpuSeconds, processGroupCpuSeconds, processPeakRssBytes, processRssBytes, ownCpuSeconds, ownPeakRssBytes } from './process-usage';
export { categoryChartSvg, type CategoryChartOptions, type ChartPanel, type ReferenceLine } from './chart';
