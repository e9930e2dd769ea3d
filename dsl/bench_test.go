package dsl

import "testing"

func BenchmarkCompileExpr(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := CompileExpr("r.rc == 0 and 'active' in r.stdout or x | default(1) > 2", Pos{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalExpr(b *testing.B) {
	e, err := CompileExpr("r.rc == 0 and 'active' in r.stdout or x | default(1) > 2", Pos{})
	if err != nil {
		b.Fatal(err)
	}
	vars := testVars()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Eval(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderTemplate(b *testing.B) {
	t, err := ParseTemplate("{% for u in users %}{{ loop.index }} {{ u.name | upper }}{% if u.admin %}!{% endif %}\n{% endfor %}", Pos{})
	if err != nil {
		b.Fatal(err)
	}
	vars := testVars()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := t.Render(vars); err != nil {
			b.Fatal(err)
		}
	}
}
