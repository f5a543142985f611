import { strict as assert } from 'node:assert';
import { categoryChartSvg } from './chart';

const yTicks = (svg: string) => [...svg.matchAll(/<text x="\d+" y="[\d.]+" text-anchor="end">([^<]+)<\/text>/g)].map((match) => Number(match[1]));

describe('categoryChartSvg', () => {
  const panel = { title: 'p', xLabel: 'epoch', categories: ['1', '2', '3'], series: [{ name: 'dev', values: [0.81, 0.84, undefined] }] };

  it('draws one panel per entry, a point per defined value, and escapes text', () => {
    const svg = categoryChartSvg({ title: 'a < b', yLabel: 'rows/s', panels: [panel, { ...panel, title: 'q' }], references: [{ name: 'ref', value: 0.5 }] });
    assert.match(svg, /^<svg[^>]*>[\s\S]*<\/svg>\n$/);
    assert.match(svg, /a &lt; b/);
    assert.equal((svg.match(/<circle /g) ?? []).length, 4);
    assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 3, 'the reference line in both panels and the legend');
  });

  it('starts the y axis at 0 by default, or fits it to the values', () => {
    assert.equal(yTicks(categoryChartSvg({ title: 't', yLabel: 'y', panels: [panel] }))[0], 0);
    const fitted = yTicks(categoryChartSvg({ title: 't', yLabel: 'y', panels: [panel], yAxis: 'fit' }));
    assert.ok(fitted[0]! > 0.7 && fitted[0]! <= 0.81, `lowest tick ${fitted[0]}`);
    assert.ok(fitted[fitted.length - 1]! >= 0.84 && fitted[fitted.length - 1]! < 0.9, `highest tick ${fitted[fitted.length - 1]}`);
  });
});
