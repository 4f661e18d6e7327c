import { describe, expect, it } from 'vitest';
import { html, trustedHtml } from './html.js';

describe('html', () => {
  it('escapes every interpolation, in content and in attributes', () => {
    const name = `<script>alert("x")</script> & 'co'`;
    expect(String(html`<p title="${name}">${name}</p>`)).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;</p>',
    );
  });

  it('inserts html results and trusted markup as they are, and joins arrays', () => {
    const items = ['a<b', 'c'].map((item) => html`<li>${item}</li>`);
    expect(String(html`<ul>${items}</ul>${trustedHtml('<hr>')}${3}`)).toBe('<ul><li>a&lt;b</li><li>c</li></ul><hr>3');
  });

  it('leaves the template itself untouched', () => {
    expect(String(html`<a href="/x?a=1&b=2">"quoted"</a>`)).toBe('<a href="/x?a=1&b=2">"quoted"</a>');
  });

  it('escapes the five characters that can end a text or an attribute', () => {
    expect(String(html`${`&<>"'`}`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });
});
