package apiservertest

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		context   string
		forbidden bool
	}{
		{AdminContext, false},
		{NobodyContext, true},
	} {
		t.Run(tc.context, func(t *testing.T) {
			c, err := corev1client.NewForConfig(s.RESTConfig(t, tc.context))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			if tc.forbidden != apierrors.IsForbidden(err) || !tc.forbidden && err != nil {
				t.Fatalf("get namespace kube-system as %s: %v (want forbidden=%v)", tc.context, err, tc.forbidden)
			}
		})
	}
}
